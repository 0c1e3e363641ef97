"""A fake Kubernetes API server for tests (no real one can run on these machines): the real
Helm engine and the official kubernetes client work against it unchanged (HTTPS on 127.0.0.1
with a bearer token, as client-go only sends credentials over TLS), and fake controllers move
rollouts forward on a simulated clock. Start one with `kube_cluster(tmp_path)`."""

from __future__ import annotations

from .cluster import TICK_SECONDS, FakeCluster, kube_cluster
from .server import Request

__all__ = ["TICK_SECONDS", "FakeCluster", "Request", "kube_cluster"]
