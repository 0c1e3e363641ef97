"""The test-facing fake cluster: an API server on loopback that the real Helm engine and the
official kubernetes client use unchanged, a kubeconfig pointing at it, and the controllers
(tests/support/kube_fake/controllers.py) moving its objects forward on a simulated clock
(TICK_SECONDS per tick, a tick every `tick_interval` real seconds unless paused)."""

from __future__ import annotations

import contextlib
import random
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import admission, bootstrap, controllers, tls
from .discovery import Registry, ResourceType
from .errors import ApiError
from .exec_ws import ExecHandler
from .images import ImageBook
from .kubeconfig import write_kubeconfig
from .ops import Api, WriteOptions
from .pod_logs import LogSource
from .pods import container_image
from .server import Failure, FakeApiServer, Hooks, Request
from .store import Obj, Store, clone, meta

TICK_SECONDS: int = controllers.TICK_SECONDS
Objs = list[Obj]
Requests = list[Request]
Lines = list[str]


class FakeCluster:
    """One fake cluster. Start it with `kube_cluster(tmp_path)`; everything stops on exit.

    kubeconfig, context, url, token: how clients reach it (HTTPS, bearer token).
    images: the images book (what pulls, runs, logs and answers exec in each image).
    get/list/apply/upsert/delete: objects, as a user (apply) or a controller (upsert) writes.
    tick/paused/now: the controllers and the simulated clock.
    requests/fail: what the API server saw; errors to answer the next matching requests with.
    log_source/exec_handler: replaceable hooks behind pods/log and pods/exec.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        tick_interval: float = 0.02,
        nodes: int = 3,
        node_cpu: str = "4",
        node_memory: str = "8Gi",
        node_labels: Mapping[str, str] | None = None,
        seed: int | None = None,
        start: datetime | None = None,
        context: str = "fake",
        namespace: str = "default",
    ) -> None:
        self.workdir = workdir
        self.context = context
        self.tick_interval = tick_interval
        self.token = secrets.token_urlsafe(24)
        self.images = ImageBook()
        self.rng = random.Random(seed)
        moment = start or datetime.now(UTC)
        self._now = moment.replace(microsecond=0)
        self.registry = Registry()
        self.store = Store(self.registry, lambda: self._now)
        self.api = Api(self.store, lambda: admission.check)
        #: what `kubectl logs` shows: (pod, container, previous) -> lines
        self.log_source: LogSource = self._image_logs
        #: what exec runs: (pod, container, command) -> (exit code, stdout, stderr)
        self.exec_handler: ExecHandler = self._image_exec
        self._hooks = Hooks(logs=self._logs_hook, exec=self._exec_hook, now=lambda: self._now)
        self._server = FakeApiServer(
            self.api, self.registry, self.token, self._hooks, tls.server_context(workdir / "pki")
        )
        self._namespace = namespace
        self._node_options = (nodes, node_cpu, node_memory, dict(node_labels or {}))
        self._tick_lock = threading.Lock()
        self._paused = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._errors: list[BaseException] = []
        self.url = ""
        self.kubeconfig = workdir / "kubeconfig.yaml"

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeCluster:
        bootstrap.seed(self.api)
        count, cpu, memory, labels = self._node_options
        self.nodes(count=count, cpu=cpu, memory=memory, labels=labels)
        port = self._server.start()
        self.url = f"https://127.0.0.1:{port}"
        if self.kubeconfig.exists():
            self.kubeconfig = self.workdir / f"kubeconfig-{port}.yaml"
        write_kubeconfig(
            self.kubeconfig,
            self.url,
            self.token,
            ca_pem=tls.credentials()[0],
            context=self.context,
            namespace=self._namespace,
        )
        self._ticker = threading.Thread(
            target=self._run_ticker, name="kube-fake-ticker", daemon=True
        )
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(30)
        self._server.stop()
        self._raise_background_error()

    # --- time and controllers ---------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The simulated clock (UTC): it moves TICK_SECONDS per tick."""
        return self._now

    def _run_ticker(self) -> None:
        while not self._stop.wait(self.tick_interval):
            if self._paused or self._errors:
                continue
            try:
                self._tick_once(background=True)
            except BaseException as exc:  # surfaced by the next tick()/stop() of the test
                self._errors.append(exc)

    def _raise_background_error(self) -> None:
        if self._errors:
            raise RuntimeError("a fake controller failed in the background") from self._errors[0]
        if self._hooks.crashes:
            raise RuntimeError("the fake API server failed a request") from self._hooks.crashes[0]

    def _world(self) -> controllers.World:
        return controllers.World(
            now=self._now, tick_seconds=TICK_SECONDS, images=self.images, rng=self.rng
        )

    def _tick_once(self, *, background: bool = False) -> None:
        """One controller tick. The controllers work on a snapshot outside the store lock (so
        the API server keeps answering meanwhile); their writes then carry the snapshot's
        resourceVersions, and one whose object changed since is dropped, as a real
        controller's write fails with 409 Conflict and is retried on its next sync."""
        with self._tick_lock:
            if background and self._paused:
                return
            with self.store.lock:
                self._now += timedelta(seconds=TICK_SECONDS)
                objects = [self.store.present(rt, o) for rt, o in self.store.everything()]
                seen = {_key(o): str(meta(o).get("resourceVersion", "")) for o in objects}
                world = self._world()
            changes = controllers.step(objects, world)
            with self.store.lock:
                for obj in self._owned_by_the_living(changes.upserts):
                    with contextlib.suppress(ApiError):  # a conflict, or its namespace went
                        self.api.controller_upsert(obj, seen.get(_key(obj)))
                for api_version, kind, namespace, name in changes.deletes:
                    self.api.controller_delete(api_version, kind, namespace, name)

    def _owned_by_the_living(self, upserts: Objs) -> Objs:
        """The upserts whose owners (if any) still exist or come with them: a controller that
        acted on an owner deleted meanwhile writes nothing the garbage collector would not
        remove at once."""
        stored = {meta(o).get("uid") for _, o in self.store.everything()}
        kept = list(upserts)
        while True:
            alive = stored | {meta(o).get("uid") for o in kept}
            still = [
                o
                for o in kept
                if not (refs := meta(o).get("ownerReferences") or [])
                or any(r.get("uid") in alive for r in refs)
            ]
            if len(still) == len(kept):
                return kept
            kept = still

    def tick(self, n: int = 1) -> None:
        """Run `n` controller ticks now (also while paused)."""
        self._raise_background_error()
        for _ in range(n):
            self._tick_once()

    @contextlib.contextmanager
    def paused(self) -> Iterator[FakeCluster]:
        """Stop the background ticker for the block (a tick under way finishes first)."""
        with self._tick_lock:
            self._paused += 1
        try:
            yield self
        finally:
            self._paused -= 1

    # --- objects ----------------------------------------------------------------------------

    def _rt(self, api_version: str, kind: str) -> ResourceType:
        rt = self.registry.by_kind(api_version, kind)
        if rt is None:
            raise KeyError(f"the fake API server does not serve {api_version} {kind}")
        return rt

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        rt = self._rt(api_version, kind)
        with self.store.lock:
            found = self.store.get(rt, namespace, name)
            return None if found is None else self.store.present(rt, found)

    def list(self, api_version: str, kind: str, namespace: str | None = None) -> Objs:
        rt = self._rt(api_version, kind)
        with self.store.lock:
            return [self.store.present(rt, o) for o in self.store.items(rt, namespace)]

    def apply(self, obj: Obj) -> Obj:
        """Create or replace `obj` as a user would (strict validation, status ignored where
        it is a subresource, admission); returns the stored object."""
        rt = self._rt(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        m = meta(clone(obj))
        namespace = str(m.get("namespace") or ("default" if rt.namespaced else ""))
        options = WriteOptions(manager="kubectl", directive="Strict")
        with self.store.lock:
            current = self.store.get(rt, namespace, str(m.get("name", "")))
            if current is None:
                return self.api.create(rt, namespace, obj, options, [])
            body = clone(obj)
            meta(body)["resourceVersion"] = meta(current).get("resourceVersion")
            return self.api.update(rt, namespace, str(m["name"]), body, options, [])

    def upsert(self, obj: Obj) -> Obj:
        """Write `obj` as a controller does: status included, no admission or validation."""
        rt = self._rt(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        self.api.controller_upsert(obj)
        m = meta(obj)
        found = self.get(rt.api_version, rt.kind, str(m.get("namespace", "")), str(m["name"]))
        assert found is not None
        return found

    def delete(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
    ) -> Obj:
        rt = self._rt(api_version, kind)
        return self.api.delete(rt, namespace, name, {"propagationPolicy": propagation}, {})

    def nodes(
        self,
        count: int = 3,
        cpu: str = "4",
        memory: str = "8Gi",
        labels: Mapping[str, str] | None = None,
    ) -> Objs:
        """Replace the worker Nodes: `count` Ready nodes of `cpu` and `memory` capacity."""
        rt = self._rt("v1", "Node")
        with self.store.lock:
            for node in self.store.items(rt):
                self.store.delete(rt, "", str(meta(node)["name"]))
            for node in bootstrap.nodes(count, cpu, memory, labels or {}, self._now):
                self.api.controller_upsert(node)
        return self.list("v1", "Node")

    # --- the API server ---------------------------------------------------------------------

    @property
    def requests(self) -> Requests:
        """Every request the API server received: (method, path, content_type, query)."""
        return self._hooks.requests

    def fail(
        self, method: str, path_regex: str, status: int, message: str, times: int | None = 1
    ) -> Failure:
        """Answer the next `times` requests matching `method` ('*': any) and `path_regex`
        with a Status error (`times=None`: until the cluster stops)."""
        failure = Failure(method.upper(), re.compile(path_regex), status, message, times)
        self._hooks.failures.append(failure)
        return failure

    # --- hooks into the images book ---------------------------------------------------------

    def _logs_hook(self, pod: Obj, container: str, previous: bool) -> Lines:
        return self.log_source(pod, container, previous)  # looked up per call: tests replace it

    def _exec_hook(self, pod: Obj, container: str, command: Lines) -> tuple[int, str, str]:
        return self.exec_handler(pod, container, command)

    def _image_logs(self, pod: Obj, container: str, previous: bool) -> Lines:
        return self.images.logs(container_image(pod, container), previous)

    def _image_exec(self, pod: Obj, container: str, command: Lines) -> tuple[int, str, str]:
        return self.images.exec(pod, container, command)


def _key(obj: Obj) -> tuple[str, str, str, str]:
    m = meta(obj)
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(m.get("namespace") or ""),
        str(m.get("name", "")),
    )


@contextlib.contextmanager
def kube_cluster(tmp_path: Path, **options: Any) -> Iterator[FakeCluster]:
    """A started fake cluster for the block; its server and ticker are stopped after."""
    cluster = FakeCluster(tmp_path, **options)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


__all__ = ["TICK_SECONDS", "FakeCluster", "kube_cluster"]
