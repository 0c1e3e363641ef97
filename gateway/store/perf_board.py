"""Statistics shared through Redis: each proxy replica publishes a snapshot every few seconds
(its router's deployments; its response cache's counters); the management API reads the fresh
ones. One hash per board, one field per replica."""

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
CACHE_BOARD = "sf:mc:stats"
STALE_AFTER_S = 30.0


class RedisPerfBoard:
    def __init__(
        self,
        client: Any,
        *,
        board: str = BOARD,
        field: str = "deployments",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._board = board
        self._field = field
        self._clock = clock

    async def publish(self, replica: str, snapshot: Any) -> None:
        payload = {"replica": replica, "at": self._clock(), self._field: snapshot}
        await self._client.hset(self._board, replica, orjson.dumps(payload))

    async def snapshots(self) -> list[dict[str, Any]]:
        raw = await self._client.hgetall(self._board)
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
            await self._client.hdel(self._board, *stale)  # replicas that went away
        return sorted(fresh, key=lambda s: str(s["replica"]))


async def publish_forever(
    board: RedisPerfBoard,
    replica: str,
    snapshot: Callable[[], Any],
    every_s: float,
) -> None:
    """Run as a background task on each proxy; a Redis outage only delays the next snapshot."""
    while True:
        try:
            await board.publish(replica, snapshot())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("cannot publish statistics", extra={"error": str(exc)})
        await asyncio.sleep(every_s)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
