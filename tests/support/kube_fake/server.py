"""The HTTP face of the fake API server (aiohttp on 127.0.0.1, in its own thread and event
loop): bearer-token auth, the request log, injected failures, discovery, OpenAPI v3, and the
resource paths (/api/v1/..., /apis/<group>/<version>/..., namespaced or not, with /status,
/scale, /log and /exec subresources) mapped onto the API verbs in ops."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml
from aiohttp import web

from . import errors, protobuf
from .discovery import Registry, ResourceType
from .errors import ApiError
from .exec_ws import ExecHandler, serve_exec
from .openapi import SERVER_VERSION, OpenApi
from .ops import Api, WriteOptions
from .pod_logs import LogSource, pod_log
from .watch import Watches

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": SERVER_VERSION,
    "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
    "gitTreeState": "clean",
    "buildDate": "2024-12-10T18:35:35Z",
    "goVersion": "go1.22.9",
    "compiler": "gc",
    "platform": "linux/amd64",
}
JSON = "application/json"


class Request(NamedTuple):
    """One request the server saw (query: repeated parameters joined with a comma)."""

    method: str
    path: str
    content_type: str
    query: dict[str, str]


@dataclass
class Failure:
    """An injected error: the next `times` requests matching method and path regex fail."""

    method: str
    path: re.Pattern[str]
    status: int
    message: str
    times: int | None


@dataclass
class Hooks:
    """What the server asks the rest of the fake cluster."""

    logs: LogSource
    exec: ExecHandler
    now: Callable[[], Any]
    failures: list[Failure] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    #: bugs of the fake itself met while answering (answered 500; the cluster raises them)
    crashes: list[BaseException] = field(default_factory=list)


class _Route(NamedTuple):
    rt: ResourceType
    namespace: str | None
    name: str | None
    subresource: str
    watch: bool


def _json(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {
        "Audit-Id": str(uuid.uuid4()),
        "Cache-Control": "no-cache, private",
    }
    response = web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type=JSON,
        headers=headers,
    )
    for warning in warnings or []:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def _error(exc: ApiError) -> web.Response:
    response = _json(exc.body(), exc.code)
    for key, value in exc.headers.items():
        response.headers[key] = value
    return response


class FakeApiServer:
    def __init__(
        self,
        api: Api,
        registry: Registry,
        token: str,
        hooks: Hooks,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.api = api
        self.ssl_context = ssl_context
        self.registry = registry
        self.token = token
        self.hooks = hooks
        self.openapi = OpenApi(registry)
        self.watches = Watches(api.store)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> int:
        """Serve on 127.0.0.1 (a free port) from a background thread; returns the port."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="kube-fake-api", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self.port

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._stamp_date)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        server: Any = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])

    async def _stamp_date(self, request: web.Request, response: web.StreamResponse) -> None:
        """`Date` is the cluster's simulated clock, the one its timestamps come from, as a real
        API server's Date agrees with its own creationTimestamps."""
        from email.utils import format_datetime

        response.headers["Date"] = format_datetime(self.hooks.now(), usegmt=True)

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None or self._thread is None:
            return

        async def shutdown() -> None:
            self.watches.close_all()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(30)
        self._loop = None

    # --- request handling -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = {k: ",".join(request.query.getall(k)) for k in request.query}
        content_type = request.headers.get("Content-Type", "")
        self.hooks.requests.append(Request(request.method, request.path, content_type, query))
        try:
            if request.headers.get("Authorization", "") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized")
            self._inject_failure(request.method, request.path)
            return await self._dispatch(request, query)
        except ApiError as exc:
            return _error(exc)
        except web.HTTPException:
            raise
        except Exception as exc:
            self.hooks.crashes.append(exc)
            return _error(errors.internal(f"the fake API server failed: {exc!r}"))

    def _inject_failure(self, method: str, path: str) -> None:
        for failure in self.hooks.failures:
            if failure.times == 0 or failure.method.upper() not in (method, "*"):
                continue
            if failure.path.search(path):
                if failure.times is not None:
                    failure.times -= 1
                raise ApiError(failure.status, failure.message)

    async def _dispatch(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return _json(VERSION)
        if path == "/api":
            return _json(self.registry.api_versions())
        if path == "/apis":
            return _json(self.registry.api_group_list())
        if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            return self._openapi(request, path)
        parts = path.strip("/").split("/")
        if parts[0] == "apis" and len(parts) == 2:
            found = self.registry.api_group(parts[1])
            if found is None:
                raise errors.resource_not_served()
            return _json(found)
        if parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.resource_not_served()
        if not rest:
            listing = self.registry.resource_list(group, version)
            if listing is None:
                raise errors.resource_not_served()
            return _json(listing)
        route = self._route(group, version, rest, query)
        return await self._resource(request, route, query)

    def _route(self, group: str, version: str, rest: list[str], query: dict[str, str]) -> _Route:
        watch = query.get("watch", "").lower() in ("true", "1")
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise errors.resource_not_served()
        rt = self.registry.lookup(group, version, rest[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise errors.resource_not_served()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub not in rt.subresources:
            raise errors.resource_not_served()
        return _Route(rt, namespace, name, sub, watch)

    async def _resource(
        self, request: web.Request, route: _Route, query: dict[str, str]
    ) -> web.StreamResponse:
        rt, namespace, name, sub = route.rt, route.namespace, route.name, route.subresource
        method = request.method
        ns = namespace or ""
        if name is None:
            if method == "GET" and route.watch:
                return await self.watches.serve(request, rt, namespace, query)
            if method == "GET":
                return _json(self.api.collection(rt, namespace, query))
            if method == "POST" and (namespace is not None or not rt.namespaced):
                options = WriteOptions.from_query(query, request.headers.get("User-Agent", ""))
                warnings: list[str] = []
                body = await self._json_body(request)
                created = self.api.create(rt, ns, body, options, warnings)
                return _json(created, 201, warnings)
            if method == "DELETE" and (namespace is not None or not rt.namespaced):
                return _json(await self._delete_collection(request, rt, namespace, query))
            raise errors.method_not_allowed()
        if sub == "log" and method == "GET":
            pod = self.api.get(rt, ns, name)
            text = pod_log(pod, query, self.hooks.logs, self.hooks.now())
            return web.Response(text=text, content_type="text/plain")
        if sub == "exec" and method in ("GET", "POST"):
            pod = self.api.get(rt, ns, name)
            return await serve_exec(request, pod, self.hooks.exec)
        if sub in ("log", "exec", "finalize", "token", "eviction", "binding"):
            raise errors.method_not_allowed()
        options = WriteOptions.from_query(query, request.headers.get("User-Agent", ""))
        warnings = []
        if method == "GET":
            return _json(self.api.get(rt, ns, name, sub))
        if method == "PUT":
            body = await self._json_body(request)
            return _json(self.api.update(rt, ns, name, body, options, warnings, sub), 200, warnings)
        if method == "PATCH":
            raw = await request.read()
            content_type = request.headers.get("Content-Type", "")
            with self.api.store.lock:
                existed = self.api.store.get(rt, ns, name) is not None
                result = self.api.patch(rt, ns, name, raw, content_type, options, warnings, sub)
            return _json(result, 200 if existed else 201, warnings)
        if method == "DELETE":
            raw = await request.read()
            kind = request.headers.get("Content-Type", JSON)
            body = self._parse(raw, kind) if raw else None
            gone = self.api.delete(rt, ns, name, body, query)
            return _json(
                gone,
                202
                if (gone.get("metadata") or {}).get("deletionTimestamp")
                and gone.get("kind") != "Namespace"
                else 200,
            )
        raise errors.method_not_allowed()

    async def _delete_collection(
        self, request: web.Request, rt: ResourceType, namespace: str | None, query: dict[str, str]
    ) -> dict[str, Any]:
        raw = await request.read()
        body = self._parse(raw, request.headers.get("Content-Type", JSON)) if raw else None
        listing = self.api.collection(rt, namespace, {**query, "limit": ""})
        for item in listing["items"]:
            m = item.get("metadata") or {}
            try:
                self.api.delete(rt, str(m.get("namespace", "")), str(m["name"]), body, query)
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

    @staticmethod
    def _parse(raw: bytes, content_type: str = JSON) -> Any:
        if content_type.split(";", maxsplit=1)[0].strip() == protobuf.PROTOBUF:
            try:
                return protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                raise errors.bad_request(f"unable to decode the protobuf body: {exc}") from None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {exc}"
            ) from None

    async def _json_body(self, request: web.Request) -> Any:
        content_type = request.headers.get("Content-Type", JSON).split(";")[0].strip()
        accepted = (JSON, "", "*/*", "application/yaml", protobuf.PROTOBUF)
        if content_type not in accepted:
            raise errors.unsupported_media_type([JSON, "application/yaml", protobuf.PROTOBUF])
        raw = await request.read()
        if content_type == "application/yaml":
            return yaml.safe_load(raw)
        return self._parse(raw, content_type)

    def _openapi(self, request: web.Request, path: str) -> web.Response:
        accept = request.headers.get("Accept", "")
        if accept and "json" not in accept and "*/*" not in accept:
            raise ApiError(406, "only application/json is served", reason="NotAcceptable")
        if path == "/openapi/v3":
            return _json(self.openapi.index())
        found = self.openapi.document(path.removeprefix("/openapi/v3/"))
        if found is None:
            raise errors.resource_not_served()
        body, digest = found
        wanted = request.query.get("hash")
        if wanted and wanted != digest:
            raise web.HTTPMovedPermanently(f"{path}?hash={digest}")
        cache = "public, immutable" if wanted else "no-cache, private"
        return web.Response(
            body=body, content_type=JSON, headers={"Cache-Control": cache, "Etag": f'"{digest}"'}
        )
