"""Zero-downtime rollouts on Compose, as pure decisions: which services, in what order, the
steps of each, and what to do on every state a new container is observed in.

Compose replaces a container stop-first (a gap on every change). A rollout instead starts the
new container beside the old one and waits until it answers /ready; from then on Caddy reaches
both (its upstream is the service's name, which Docker's DNS resolves to every container of
the service, at each new connection). Then the old one gets SIGTERM: its listener closes at
once, so a new connection to it is refused and Caddy's dialer moves to the new container (and
lb_try_duration retries), while the requests and streams it already has finish within the drain
timeout; then it is removed. Caddy's configuration is never reloaded during a rollout: a reload
cancels the requests the old configuration is proxying. A new container that never becomes
ready is removed and the old one keeps serving. The driver (`rollout_run`) only executes what
these functions decide, so every decision is unit-tested without a Docker engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sfctl.spec import SERVICES

#: gateway services, rolled one at a time; the proxy (the data plane) last, once everything it
#: calls runs the new build
ROLL_ORDER: tuple[str, ...] = ("api-server", "compliance", "policy-perfect", "proxy")
PORTS: Mapping[str, int] = {info.service_type: info.port for info in SERVICES}
#: docker stop waits this much past the drain timeout before SIGKILL (the gateway's own bound)
STOP_MARGIN_SECS = 10
#: log lines shown when a new container fails its gate
LOG_TAIL = 15


class Step(StrEnum):
    START_NEW = "start the new container beside the old one"
    AWAIT_READY = "wait until the new container answers /ready"
    DRAIN_OLD = "stop the old container (SIGTERM: it drains)"
    REMOVE_OLD = "remove the old container"
    REMOVE_NEW = "remove the new container"


#: the steps of one service's rollout, in order
SERVICE_STEPS: tuple[Step, ...] = (
    Step.START_NEW,
    Step.AWAIT_READY,
    Step.DRAIN_OLD,
    Step.REMOVE_OLD,
)


def plan_services(
    running: Mapping[str, Sequence[str]],
    target_image_id: str,
    services: Sequence[str],
    changed: frozenset[str] = frozenset(),
) -> list[str]:
    """The services to roll, in ROLL_ORDER: those among `services` with a running container
    whose image is not the target (`running`: service -> image ids of its containers), or
    whose definition changed (`changed`: compose would recreate them stop-first). A service
    with no container is not rolled: `compose up` starts it."""
    todo = [
        name
        for name in ROLL_ORDER
        if name in services
        and running.get(name)
        and (name in changed or any(image != target_image_id for image in running[name]))
    ]
    unknown = [name for name in services if name not in ROLL_ORDER]
    if unknown:
        raise ValueError(f"not gateway services: {', '.join(unknown)}")
    return todo


def changed_services(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], config_changed: bool
) -> frozenset[str]:
    """Gateway services whose Compose definition differs between two rendered files (or all
    of them when the gateway config file they mount changed: they read it at start only)."""
    if old is None:
        return frozenset()
    if config_changed:
        return frozenset(ROLL_ORDER)
    before, after = old.get("services") or {}, new.get("services") or {}
    return frozenset(name for name in ROLL_ORDER if before.get(name) != after.get(name))


def undo_steps(failed_at: Step) -> tuple[Step, ...]:
    """What to undo when `failed_at` failed (or was interrupted) so that the old container
    serves as before and no half-started container is left. Once the old one is stopping,
    the new one (ready) serves: finish removing the old one."""
    if failed_at in (Step.START_NEW, Step.AWAIT_READY):
        return (Step.REMOVE_NEW,)
    return (Step.REMOVE_OLD,)


@dataclass(frozen=True, slots=True)
class Observation:
    """A new container, as last seen: docker's state and our /ready probe."""

    status: str  # docker: created, running, restarting, exited, dead
    exit_code: int | None
    restarts: int
    health: str | None  # docker's health status, None without a health check
    ready: bool  # /ready answered 200
    probe: str  # the probe's last answer or error, for the reason
    elapsed_s: float


class Verdict(StrEnum):
    WAIT = "wait"
    SWITCH = "switch"
    ABORT = "abort"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str = ""


def judge_new(seen: Observation, deadline_s: float) -> Decision:
    """Gate a new container: switch once it is ready; abort at once when it cannot become
    ready (exited, crash-looping, unhealthy) rather than waiting out the deadline."""
    if seen.ready and seen.status == "running":
        return Decision(Verdict.SWITCH)
    if seen.status in ("exited", "dead"):
        return Decision(Verdict.ABORT, f"it exited with code {seen.exit_code}")
    if seen.restarts > 0 or seen.status == "restarting":
        return Decision(Verdict.ABORT, f"it crashed and restarted ({seen.restarts} times)")
    if seen.health == "unhealthy":
        return Decision(Verdict.ABORT, f"its health check fails ({seen.probe})")
    if seen.elapsed_s >= deadline_s:
        return Decision(
            Verdict.ABORT, f"it did not answer /ready within {deadline_s:.0f}s ({seen.probe})"
        )
    return Decision(Verdict.WAIT)


def stop_timeout(drain_timeout_s: int) -> int:
    """How long docker stop waits after SIGTERM before SIGKILL: past the gateway's own drain."""
    return drain_timeout_s + STOP_MARGIN_SECS


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What a deploy compares before and after `compose up`."""

    name: str
    service: str
    id: str
    image_id: str
    status: str


def changes(before: Sequence[ContainerState], after: Sequence[ContainerState]) -> list[str]:
    """What a run changed, one line each; empty: nothing (the idempotent second deploy)."""
    old = {c.name: c for c in before}
    new = {c.name: c for c in after}
    lines = [f"started {name}" for name in new if name not in old]
    lines += [f"removed {name}" for name in old if name not in new]
    for name in new.keys() & old.keys():
        was, now = old[name], new[name]
        if was.id != now.id:
            lines.append(f"recreated {name}")
        elif was.status != now.status:
            lines.append(f"{name}: {was.status} -> {now.status}")
    return sorted(lines)


def prune_candidates(
    deployed: Sequence[str], protected: frozenset[str], running: frozenset[str]
) -> list[str]:
    """Images sfctl deployed once that are neither a rollback target (history's last N
    releases) nor running: the only images a rollout may delete."""
    return [
        image
        for image in dict.fromkeys(deployed)
        if image not in protected and image not in running
    ]
