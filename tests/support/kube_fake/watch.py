"""?watch=true: a chunked stream of {"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": ...}
lines, starting from a resourceVersion (replayed from the store's event log, 410 Expired when
it is too old) or from the current state; selectors apply to each event the way the server
applies them (an object leaving the selection is a DELETED, one entering it an ADDED)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .discovery import ResourceType
from .errors import ApiError, bad_request
from .selectors import field_selector, label_selector
from .store import Obj, Store, meta

MAX_SECONDS = 1800


class Watches:
    """The open watch streams of one server, ended together when it stops."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queues: set[asyncio.Queue[tuple[str, Obj] | None]] = set()

    def close_all(self) -> None:
        for queue in list(self._queues):
            queue.put_nowait(None)

    async def serve(
        self,
        request: web.Request,
        rt: ResourceType,
        namespace: str | None,
        query: Mapping[str, str],
    ) -> web.StreamResponse:
        matches_labels = label_selector(query.get("labelSelector"))
        matches_fields = field_selector(query.get("fieldSelector"), rt.kind)

        def matches(obj: Obj | None) -> bool:
            if obj is None:
                return False
            if namespace is not None and meta(obj).get("namespace") != namespace:
                return False
            return matches_labels(obj) and matches_fields(obj)

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Obj] | None] = asyncio.Queue()

        def listener(kind: str, changed: ResourceType, old: Obj | None, new: Obj | None) -> None:
            if changed.key != rt.key:
                return
            was, now = matches(old), matches(new)
            event: tuple[str, Obj | None] | None = None
            if kind == "ADDED" and now:
                event = ("ADDED", new)
            elif kind == "DELETED" and was:
                event = ("DELETED", old)
            elif kind == "MODIFIED":
                if was and now:
                    event = ("MODIFIED", new)
                elif now:
                    event = ("ADDED", new)
                elif was:
                    event = ("DELETED", new)
            if event is not None and event[1] is not None:
                payload = (event[0], self.store.present(rt, event[1]))
                with contextlib.suppress(RuntimeError):  # the server's loop already closed
                    loop.call_soon_threadsafe(queue.put_nowait, payload)

        initial_end = False
        start = query.get("resourceVersion", "")
        with self.store.lock:
            if query.get("sendInitialEvents", "").lower() == "true" or start in ("", "0"):
                initial = [
                    ("ADDED", self.store.present(rt, o))
                    for o in self.store.items(rt, namespace)
                    if matches(o)
                ]
                initial_end = query.get("sendInitialEvents", "").lower() == "true"
            else:
                if not start.isdigit():
                    raise bad_request(f'invalid resource version: "{start}"')
                logged = self.store.events_since(int(start), rt.key)
                if logged is None:
                    raise ApiError(
                        410,
                        f"too old resource version: {start} ({self.store.resource_version})",
                        reason="Expired",
                    )
                initial = [(kind, self.store.present(rt, o)) for _, kind, o in logged if matches(o)]
            current_rv = self.store.resource_version
            self.store.subscribe(listener)
        self._queues.add(queue)
        response = web.StreamResponse(
            headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
        )
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            for kind, obj in initial:
                await _send(response, kind, obj)
            if initial_end and query.get("allowWatchBookmarks", "").lower() == "true":
                bookmark = {
                    "kind": rt.kind,
                    "apiVersion": rt.api_version,
                    "metadata": {
                        "resourceVersion": current_rv,
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                }
                await _send(response, "BOOKMARK", bookmark)
            timeout = int(query.get("timeoutSeconds") or MAX_SECONDS)
            deadline = loop.time() + min(timeout, MAX_SECONDS)
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
                if item is None:
                    break
                await _send(response, *item)
        except ConnectionResetError:
            pass
        finally:
            self.store.unsubscribe(listener)
            self._queues.discard(queue)
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await response.write_eof()
        return response


async def _send(response: web.StreamResponse, kind: str, obj: Any) -> None:
    line = json.dumps({"type": kind, "object": obj}, separators=(",", ":")) + "\n"
    await response.write(line.encode())
