"""`sfctl status compose`'s model: per container its service, state and health, the build its
gateway says it runs, its image, uptime and restarts. Pure: the inspect JSON and the answers
come from `compose_inspect`, the clock is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sfctl.deploy.buildinfo import DIRTY
from sfctl.deploy.compose_inspect import Inspected
from sfctl.deploy.verify import SHORT_ID, ExecFailure, VersionAnswer

COLUMNS = ("container", "health", "version", "image", "up", "restarts")
DIRTY_MARK = "*"
LEGEND = f"{DIRTY_MARK} built from a checkout with uncommitted changes (-o json: the full commit)"
_COMMIT = 7  # git's own short commit: the table stays within 80 columns
_DOCKER_ZERO_TIME = "0001-01-01"  # what the engine reports for "never started"


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    service: str
    container: str
    id: str
    state: str  # running, exited, restarting, paused, created, dead
    health: str | None  # healthy, unhealthy, starting; None: the container has no check
    exit_code: int | None  # when not running
    gateway: bool  # asked for its build (Redis, PostgreSQL, Caddy are not)
    version: str | None
    commit: str | None
    build_problem: str | None  # why a gateway container could not say its build
    image: str  # the reference it was created from
    image_id: str
    manifest_digests: tuple[str, ...]  # registry digests the engine knows (none for a local build)
    started_at: datetime | None
    uptime_s: float | None  # None when not running
    restarts: int

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "container": self.container,
            "id": self.id,
            "state": self.state,
            "health": self.health,
            "exit_code": self.exit_code,
            "gateway": self.gateway,
            "version": self.version,
            "commit": self.commit,
            "build_problem": self.build_problem,
            "image": self.image,
            "image_id": self.image_id,
            "manifest_digests": list(self.manifest_digests),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1),
            "restarts": self.restarts,
        }


def container_status(item: Inspected, now: datetime) -> ContainerStatus:
    facts = item.facts
    state = item.container.get("State") or {}
    health = (state.get("Health") or {}).get("Status")
    started = _moment(state.get("StartedAt"))
    running = facts.state == "running"
    answer = item.answer
    return ContainerStatus(
        service=facts.service,
        container=facts.name,
        id=str(item.container.get("Id") or ""),
        state=facts.state,
        health=str(health) if health else None,
        exit_code=facts.exit_code,
        gateway=answer is not None,
        version=answer.version if isinstance(answer, VersionAnswer) else None,
        commit=answer.git_commit if isinstance(answer, VersionAnswer) else None,
        build_problem=answer.reason if isinstance(answer, ExecFailure) else None,
        image=facts.image.reference,
        image_id=facts.image.id,
        manifest_digests=tuple(sorted(facts.image.manifest_digests)),
        started_at=started,
        uptime_s=max(0.0, (now - started).total_seconds()) if running and started else None,
        restarts=int(item.container.get("RestartCount") or 0),
    )


def project_json(project: str, statuses: Sequence[ContainerStatus]) -> dict[str, Any]:
    """Services in order, each with its containers (two while an upgrade runs)."""
    services: dict[str, list[dict[str, Any]]] = {}
    for status in statuses:
        services.setdefault(status.service, []).append(status.to_json())
    return {
        "project": project,
        "services": [{"service": name, "containers": rows} for name, rows in services.items()],
    }


def table_rows(project: str, statuses: Sequence[ContainerStatus]) -> list[list[str]]:
    """One row per container, in service order. The name without the `<project>-` all names
    share; it starts with the service's (Compose names them so), else the service is put first."""
    rows: list[list[str]] = []
    for status in statuses:
        name = status.container.removeprefix(f"{project}-")
        if not name.startswith(status.service):
            name = f"{status.service}: {name}"
        rows.append(
            [
                name,
                health_text(status),
                version_text(status),
                status.image_id.removeprefix("sha256:")[:SHORT_ID],
                "-" if status.uptime_s is None else duration(status.uptime_s),
                str(status.restarts),
            ]
        )
    return rows


def any_dirty(statuses: Sequence[ContainerStatus]) -> bool:
    return any((status.commit or "").endswith(DIRTY) for status in statuses)


def health_text(status: ContainerStatus) -> str:
    if status.state != "running":
        code = "" if status.exit_code is None else f" ({status.exit_code})"
        return f"{status.state}{code}"
    return status.health or "running"


def version_text(status: ContainerStatus) -> str:
    """The version and short commit the gateway answered; `?` when it could not say, `-`
    for a container that is not a gateway."""
    if not status.gateway:
        return "-"
    if status.version is None:
        return "?"
    commit = status.commit or ""
    mark = DIRTY_MARK if commit.endswith(DIRTY) else ""
    return f"{status.version} {commit.removesuffix(DIRTY)[:_COMMIT]}{mark}".strip()


def duration(seconds: float) -> str:
    """42s, 7m, 3h05m, 2d04h: the two largest units, short enough for a narrow column."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _moment(text: Any) -> datetime | None:
    """Docker's RFC 3339 time with nanoseconds; None for its zero time or anything else."""
    if not isinstance(text, str) or not text or text.startswith(_DOCKER_ZERO_TIME):
        return None
    head, _, rest = text.partition(".")
    zone = rest.lstrip("0123456789") if rest else text[19:]
    fraction = rest[: len(rest) - len(zone)][:6] if rest else ""
    try:
        moment = datetime.fromisoformat(f"{head[:19]}{'.' + fraction if fraction else ''}{zone}")
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
