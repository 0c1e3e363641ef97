"""A JSON HTTP server on 127.0.0.1 for tests that stand in for an API sfctl calls (the gateway's
management API, a Kubernetes API server): `answer(path, headers)` returns (status, body);
header names arrive in Title-Case."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, Mapping[str, str]], tuple[int, Any]]


@contextmanager
def json_server(answer: Answer) -> Iterator[str]:
    """Serve GETs until the block ends; yields the base URL. The server is stopped after."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # header names are case-insensitive: HTTP clients differ in how they spell them
            headers = {name.title(): value for name, value in self.headers.items()}
            code, body = answer(self.path, headers)
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
