"""The MCP gateway's routes on the proxy (issue 15: owned by helper H2; stub until it lands)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Mount /api/mcp* when the MCP gateway is enabled."""
