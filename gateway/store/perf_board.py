"""Per-deployment statistics shared through Redis: each proxy replica publishes its router's
snapshot every few seconds; the management API reads the fresh ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

log = logging.getLogger("smartflow.perf_board")

BOARD = "sf:perf"
STALE_AFTER_S = 30.0


class RedisPerfBoard:
    def __init__(self, client: Any, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._clock = clock

    async def publish(self, replica: str, deployments: list[dict[str, Any]]) -> None:
        payload = {"replica": replica, "at": self._clock(), "deployments": deployments}
        await self._client.hset(BOARD, replica, orjson.dumps(payload))

    async def snapshots(self) -> list[dict[str, Any]]:
        raw = await self._client.hgetall(BOARD)
        now = self._clock()
        fresh: list[dict[str, Any]] = []
        stale: list[Any] = []
        for field, value in raw.items():
            try:
                snapshot = orjson.loads(value)
                at = float(snapshot["at"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                stale.append(field)
                continue
            if now - at < STALE_AFTER_S:
                fresh.append(snapshot)
            else:
                stale.append(field)
        if stale:
            await self._client.hdel(BOARD, *stale)  # replicas that went away
        return sorted(fresh, key=lambda s: str(s["replica"]))


async def publish_forever(
    board: RedisPerfBoard,
    replica: str,
    snapshot: Callable[[], list[dict[str, Any]]],
    every_s: float,
) -> None:
    """Run as a background task on each proxy; a Redis outage only delays the next snapshot."""
    while True:
        try:
            await board.publish(replica, snapshot())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("cannot publish deployment statistics", extra={"error": str(exc)})
        await asyncio.sleep(every_s)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
