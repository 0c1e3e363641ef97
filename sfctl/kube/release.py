"""Helm releases through the real Helm engine (helm-python-sdk, Helm v4's own Go code): install,
upgrade, rollback, uninstall, history and status, with release storage in Secrets as the `helm`
CLI keeps it, so `helm history` and `sfctl history k8s` read the same thing.

sfctl never asks Helm to wait: Helm's wait sits out the whole timeout on a crash-looping pod.
It waits itself (`rollout_wait`), and rolls back itself when the rollout fails."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sfctl.errors import SfctlError
from sfctl.kube.api import INSTALL_HINT, KubeTarget, one_line

#: revisions kept per release (the `helm` CLI's default): rollback targets older than this are
#: pruned, so `sfctl rollback k8s` lists what is left instead of failing obscurely
MAX_HISTORY = 10
#: seconds Helm may take to apply a release (not to wait for it: sfctl waits itself)
APPLY_TIMEOUT = 300
#: Helm's dry runs: "server" asks the API server to admit without storing, "client" only
#: renders against what is installed
DryRun = Literal["server", "client"] | None
PENDING = ("pending-install", "pending-upgrade", "pending-rollback", "uninstalling")


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    """One revision of a release, as `helm history` shows it."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    chart_version: str
    app_version: str
    updated: datetime | None
    description: str = ""

    @property
    def pending(self) -> bool:
        """An operation started and never finished (the run was killed mid-way)."""
        return self.status in PENDING

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "revision": self.revision,
            "status": self.status,
            "chart": self.chart,
            "chart_version": self.chart_version,
            "app_version": self.app_version,
            "updated": self.updated.isoformat() if self.updated else None,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Applied:
    """What an install or upgrade (or its dry run) made: the revision and its manifest."""

    summary: ReleaseSummary
    manifest: str


def summary_from(raw: Mapping[str, Any]) -> ReleaseSummary:
    """The SDK's release JSON (`status`, `history` items) as a summary."""
    return ReleaseSummary(
        name=str(raw.get("name", "")),
        namespace=str(raw.get("namespace", "")),
        revision=int(raw.get("revision") or 0),
        status=str(raw.get("status", "unknown")),
        chart=str(raw.get("chart_name", "")),
        chart_version=str(raw.get("chart_version", "")),
        app_version=str(raw.get("app_version", "")),
        updated=_timestamp(raw.get("deployed_at") or raw.get("updated")),
        description=str(raw.get("description", "")),
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def helm_error(exc: Exception, action: str) -> SfctlError:
    """A Helm SDK error as one line; the cluster being unreachable is exit 2 like the rest."""
    detail = one_line(str(exc), 400)
    code = 2 if type(exc).__name__ == "HelmKubeError" else 1
    return SfctlError(f"helm {action}: {detail}", exit_code=code)


class Releases:
    """The Helm engine bound to one cluster and namespace. Use as a context manager: the SDK
    holds native handles that must be closed."""

    def __init__(self, target: KubeTarget) -> None:
        try:
            import helm_python
        except ImportError:
            raise SfctlError(INSTALL_HINT, exit_code=2) from None
        self._helm = helm_python
        self.target = target
        try:
            self._config = helm_python.Config(
                kubeconfig_path=str(target.kubeconfig.expanduser()) if target.kubeconfig else None,
                kube_context=target.context,
                namespace=target.namespace,
            )
        except helm_python.HelmError as exc:
            raise helm_error(exc, "config") from None

    def __enter__(self) -> Releases:
        return self

    def __exit__(self, *exc: object) -> None:
        self._config.close()

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except self._helm.HelmError as exc:
            raise helm_error(exc, action) from None

    def _not_found(self, exc: Exception) -> bool:
        return isinstance(exc, self._helm.HelmNotFoundError) or "not found" in str(exc)

    # --- reading --------------------------------------------------------------------------

    def current(self, name: str) -> ReleaseSummary | None:
        """The latest revision of `name` (whatever its status), or None when not installed."""
        revisions = self.history(name)
        return revisions[-1] if revisions else None

    def history(self, name: str) -> list[ReleaseSummary]:
        """Every revision kept, oldest first; empty when the release does not exist."""
        try:
            raw = self._config.history(name)
        except self._helm.HelmError as exc:
            if self._not_found(exc):
                return []
            raise helm_error(exc, "history") from None
        return sorted((summary_from(item) for item in raw), key=lambda r: r.revision)

    def values(self, name: str, revision: int | None = None) -> dict[str, Any]:
        """The user-supplied values of a revision (what an upgrade reuses)."""
        with self._errors("get values"):
            raw = self._config.get_values(name, revision=revision)
        return dict(raw) if isinstance(raw, dict) else {}

    def recorded(self, name: str, revision: int) -> tuple[dict[str, Any], str]:
        """A revision's user-supplied values and its description (`helm get all`)."""
        with self._errors("get"):
            raw = self._config.get_all(name, revision=revision)
        values = raw.get("config")
        info = raw.get("info") or {}
        return (dict(values) if isinstance(values, dict) else {}), str(info.get("description", ""))

    def manifest(self, name: str, revision: int | None = None) -> str:
        with self._errors("status"):
            raw = self._config.status(name, revision=revision)
        return str(raw.get("manifest") or "")

    # --- writing --------------------------------------------------------------------------

    def install(
        self,
        chart: Path | str,
        name: str,
        values: Mapping[str, Any],
        *,
        dry_run: DryRun = None,
        version: str | None = None,
        repo_url: str | None = None,
        description: str = "",
    ) -> Applied:
        """A first install (the namespace must exist). `chart` is a folder or archive, or a
        chart name in `repo_url`."""
        with self._errors("install"):
            raw = self._config.install(
                str(chart), name, dict(values), **self._options(dry_run, version, repo_url),
                description=description or None,
            )  # fmt: skip
        return Applied(summary_from(raw), str(raw.get("manifest") or ""))

    def upgrade(
        self,
        chart: Path | str,
        name: str,
        values: Mapping[str, Any],
        *,
        dry_run: DryRun = None,
        version: str | None = None,
        repo_url: str | None = None,
        description: str = "",
    ) -> Applied:
        """A new revision with exactly `values` (the caller merges what it reuses)."""
        with self._errors("upgrade"):
            raw = self._config.upgrade(
                str(chart), name, dict(values), **self._options(dry_run, version, repo_url),
                max_history=MAX_HISTORY, reset_values=True, description=description or None,
            )  # fmt: skip
        return Applied(summary_from(raw), str(raw.get("manifest") or ""))

    def _options(
        self, dry_run: DryRun, version: str | None, repo_url: str | None
    ) -> dict[str, Any]:
        """What install and upgrade share: no Helm wait beyond hooks (sfctl waits itself)."""
        return {
            "namespace": self.target.namespace,
            "timeout": APPLY_TIMEOUT,
            "wait": "hookOnly",
            "dry_run": dry_run,
            "chart_repo_url": repo_url,
            "chart_version": version,
        }

    def rollback(self, name: str, revision: int) -> None:
        with self._errors("rollback"):
            self._config.rollback(name, version=revision, timeout=APPLY_TIMEOUT, wait="hookOnly")

    def uninstall(self, name: str) -> bool:
        """True when something was removed."""
        try:
            self._config.uninstall(name, timeout=APPLY_TIMEOUT, wait="hookOnly")
        except self._helm.HelmError as exc:
            if self._not_found(exc):
                return False
            raise helm_error(exc, "uninstall") from None
        return True


def image_of(values: Mapping[str, Any]) -> str | None:
    """The gateway image a release's values name (`image.repository` and `image.tag`, the tag
    being a digest when it starts with sha256:)."""
    image = values.get("image")
    if not isinstance(image, Mapping) or not image.get("repository"):
        return None
    repository, tag = str(image["repository"]), str(image.get("tag") or "latest")
    return f"{repository}@{tag}" if tag.startswith("sha256:") else f"{repository}:{tag}"


def installed_image(target: KubeTarget, release: str) -> str | None:
    """The image the installed release's latest revision runs; None when not installed."""
    with Releases(target) as releases:
        if not releases.history(release):
            return None
        return image_of(releases.values(release))
