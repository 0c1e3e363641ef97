"""The A2A routes on the proxy (issue 15: owned by helper H4; stub until it lands)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Mount /a2a/* and /.well-known/agent-card.json."""
