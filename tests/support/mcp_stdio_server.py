"""The demo MCP server over stdio, through the official SDK's stdio transport, for the gateway's
stdio upstream tests: `python tests/support/mcp_stdio_server.py [NAME]` (or `-m
tests.support.mcp_stdio_server` from the repo root). It writes a line to stderr at start so tests
can check stderr is drained and not mixed into the protocol stream."""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script (or with -m from the repo root): the test modules import support as `support`
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support.mcp_servers import demo_server


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "demo-stdio"
    print(f"{name}: serving MCP on stdio", file=sys.stderr, flush=True)
    demo_server(name).run("stdio")


if __name__ == "__main__":
    main()
