"""A real Helm chart repository on loopback, serving the stand-in charts.

The real repositories (charts.jetstack.io, kubernetes.github.io/ingress-nginx) are out of reach
here, so the tests package the stand-ins with the Helm SDK, index them the way `helm repo index`
does, and serve the folder over HTTP on 127.0.0.1. Helm then finds, downloads and verifies the
charts exactly as it would from the real repositories (index.yaml, then the archive by the URL
in the index, relative like jetstack's)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import helm_python as helm

CHARTS_DIR = Path(__file__).resolve().parent / "charts"


@dataclass(frozen=True)
class AddonChart:
    """One stand-in chart and the real one it stands for."""

    name: str
    version: str
    app_version: str
    #: the real repository sfctl installs it from
    upstream_repo: str
    #: a newer release the real repository also lists (so an unpinned install picks it)
    newer_version: str
    newer_app_version: str

    @property
    def source(self) -> Path:
        return CHARTS_DIR / self.name

    @property
    def archive_name(self) -> str:
        """The file name Helm gives the packaged chart (and the real repository serves)."""
        return f"{self.name}-{self.version}.tgz"


CERT_MANAGER = AddonChart(
    name="cert-manager",
    version="v1.19.4",
    app_version="v1.19.4",
    upstream_repo="https://charts.jetstack.io",
    newer_version="v1.20.3",
    newer_app_version="v1.20.3",
)
INGRESS_NGINX = AddonChart(
    name="ingress-nginx",
    version="4.14.1",
    app_version="1.14.1",
    upstream_repo="https://kubernetes.github.io/ingress-nginx",
    newer_version="4.15.1",
    newer_app_version="1.15.1",
)
CHARTS = (CERT_MANAGER, INGRESS_NGINX)


class ChartRepoURL(str):
    """The repository's base URL (use it wherever a URL goes), with the paths Helm asked for."""

    requests: list[str]

    def __new__(cls, url: str) -> ChartRepoURL:
        obj = super().__new__(cls, url)
        obj.requests = []
        return obj


def chart_archives(dest: Path) -> dict[str, Path]:
    """Package both stand-ins into `dest` (created if missing), named as the real archives
    (cert-manager-v1.19.4.tgz, ingress-nginx-4.14.1.tgz): chart name -> archive. This is what
    an air-gapped operator copies over for `--charts-from DIR`."""
    dest.mkdir(parents=True, exist_ok=True)
    archives = {}
    for chart in CHARTS:
        archive = Path(helm.package(chart.source, destination=dest))
        assert archive.name == chart.archive_name, archive
        archives[chart.name] = archive
    return archives


def _package_newer(dest: Path) -> None:
    for chart in CHARTS:
        helm.package(
            chart.source,
            destination=dest,
            version=chart.newer_version,
            app_version=chart.newer_app_version,
        )


class _RecordingHandler(SimpleHTTPRequestHandler):
    """Serves the repository folder; notes every request path, logs nothing."""

    def __init__(self, *args: Any, requests: list[str], lock: threading.Lock, **kwargs: Any):
        self._requests = requests
        self._lock = lock
        super().__init__(*args, **kwargs)

    def send_head(self) -> Any:
        with self._lock:
            self._requests.append(self.path)
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def chart_repo(tmp_path: Path, *, newer_versions: bool = True) -> Iterator[ChartRepoURL]:
    """A Helm chart repository with both stand-ins on http://127.0.0.1:PORT, stopped on exit.

    Layout as jetstack's: `index.yaml` at the root, archives under `charts/` referenced by
    relative URLs. With `newer_versions` (the default) the index also lists a newer release of
    each chart, as the real repositories do, so only a pinned version gets the stand-in."""
    root = tmp_path / "chart-repo"
    charts = root / "charts"
    chart_archives(charts)
    if newer_versions:
        _package_newer(charts)
    helm.repo_index_generate(root)

    requests: list[str] = []
    handler = functools.partial(
        _RecordingHandler, directory=str(root), requests=requests, lock=threading.Lock()
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="chart-repo", daemon=True)
    thread.start()
    try:
        url = ChartRepoURL(f"http://127.0.0.1:{server.server_address[1]}")
        url.requests = requests
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
