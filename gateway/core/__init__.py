"""Pure domain: wire shapes, translation, routing decisions, errors. No I/O, no aiohttp."""
