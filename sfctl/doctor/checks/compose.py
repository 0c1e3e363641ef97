"""Compose checks: each project is its `docker compose config` JSON (normalised by Compose
itself: sizes in bytes, healthchecks, ulimits and ports in their long form), so the rules read
one shape whatever the operator wrote. The rules are the guide's "Docker Compose — Production
Configuration" and runbook (seeds/000)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import MGMT_PORT, PORTS, compose_service

__all__ = ["NOFILE_MIN", "mgmt_api_published"]

NOFILE_MIN = 65536
#: service types whose one port carries client traffic (nofile) or the management API (exposure)
DATA_PLANE_TYPES = frozenset({"proxy", "all"})
MANAGEMENT_TYPES = frozenset({"api-server", "all"})
_RESTARTS = frozenset({"always", "unless-stopped"})
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

Service = Mapping[str, Any]


def _services(
    inventory: Inventory, *, long_running: bool = False
) -> Iterator[tuple[ObjectRef, str, Service]]:
    """(object, source, service) for every service of every project; `long_running` leaves out
    one-shot services (another service waits for them with `service_completed_successfully`):
    they are meant to exit, so restart policies and healthchecks do not apply."""
    for source, config in inventory.compose:
        project = config.get("name") or None
        services = config.get("services") or {}
        one_shot = _one_shots(services) if long_running else set()
        for name, service in sorted(services.items()):
            if isinstance(service, Mapping) and name not in one_shot:
                yield ObjectRef("ComposeService", str(name), project), source, service


def _one_shots(services: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    for service in services.values():
        depends = (service or {}).get("depends_on") or {}
        if isinstance(depends, Mapping):
            found |= {
                str(name)
                for name, how in depends.items()
                if (how or {}).get("condition") == "service_completed_successfully"
            }
    return found


def _memory_limit(service: Service) -> int:
    deploy_limit = (((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get(
        "memory"
    )
    for value in (service.get("mem_limit"), deploy_limit):
        try:
            if value is not None and int(value) > 0:
                return int(value)
        except (TypeError, ValueError):
            return 1  # a size Compose did not normalise: set, whatever it is
    return 0


@check(
    "compose-mem-limit-missing",
    Severity.ERROR,
    groups={"compose"},
    summary="a Compose service without mem_limit (or deploy.resources.limits.memory)",
)
def compose_mem_limit_missing(inventory: Inventory) -> Iterator[Finding]:
    """Every service, not only Smartflow's: a runaway stream in any container can exhaust the
    host's memory and take the whole stack down (the guide: always set mem_limit)."""
    for ref, source, service in _services(inventory):
        if not _memory_limit(service):
            problem = f"service {ref.name} has no memory limit"
            yield Finding(
                "compose-mem-limit-missing",
                Severity.ERROR,
                ref,
                f"{source}: {problem}, so one runaway request loop "
                "can exhaust the host; set mem_limit (and memswap_limit to the same value, no "
                "swap) or deploy.resources.limits.memory",
                headline=problem,
            )


@check(
    "compose-healthcheck-missing",
    Severity.WARNING,
    groups={"compose"},
    summary="a Compose service without a healthcheck (or with it disabled, or no start_period)",
)
def compose_healthcheck_missing(inventory: Inventory) -> Iterator[Finding]:
    """Without a healthcheck Docker cannot mark a wedged container unhealthy, `depends_on:
    service_healthy` and `up --wait` cannot wait for it. A healthcheck without start_period
    counts a slow start as failures (info only). One-shot services are exempt."""
    for ref, source, service in _services(inventory, long_running=True):
        health = service.get("healthcheck")
        test = (health or {}).get("test")
        disabled = bool((health or {}).get("disable")) or (
            isinstance(test, list) and test[:1] == ["NONE"]
        )
        if not health or disabled or not test:
            state = "disables its healthcheck" if disabled else "has no healthcheck"
            problem = f"service {ref.name} {state}"
            yield Finding(
                "compose-healthcheck-missing",
                Severity.WARNING,
                ref,
                f"{source}: {problem}, so Docker cannot tell when it is wedged "
                "(a HEALTHCHECK in the image is not visible here); add healthcheck: with test "
                f"(e.g. {_probe_hint(service)}), interval, timeout, retries and "
                "start_period",
                headline=problem,
            )
        elif not health.get("start_period"):
            problem = f"service {ref.name}'s healthcheck has no start_period"
            yield Finding(
                "compose-healthcheck-missing",
                Severity.INFO,
                ref,
                f"{source}: {problem}, so failures while it starts count towards retries; add "
                "start_period: 20s",
                headline=problem,
            )


def _probe_hint(service: Service) -> str:
    kind = compose_service(service)
    if kind is None:
        return "the service's own status command"
    port = PORTS.get(kind, PORTS["proxy"])
    return f'["CMD", "curl", "-sf", "http://localhost:{port}/health"]'


def _nofile_soft(service: Service) -> int:
    nofile = (service.get("ulimits") or {}).get("nofile")
    if isinstance(nofile, Mapping):
        nofile = nofile.get("soft")
    try:
        return int(nofile) if nofile is not None else 0
    except (TypeError, ValueError):
        return 0


@check(
    "compose-nofile-ulimit",
    Severity.WARNING,
    groups={"compose"},
    summary="a gateway service (proxy or all) without ulimits nofile >= 65536",
)
def compose_nofile_ulimit(inventory: Inventory) -> Iterator[Finding]:
    """The data plane holds a client and an upstream socket per streaming request; Docker's
    default soft limit (1024) turns a busy minute into EMFILE errors. The soft limit is what
    the process gets, so that is the one compared."""
    for ref, source, service in _services(inventory, long_running=True):
        if compose_service(service) not in DATA_PLANE_TYPES:
            continue
        soft = _nofile_soft(service)
        if soft < NOFILE_MIN:
            have = f"a nofile soft limit of {soft}" if soft else "no nofile ulimit"
            problem = f"gateway service {ref.name} has {have}"
            yield Finding(
                "compose-nofile-ulimit",
                Severity.WARNING,
                ref,
                f"{source}: {problem}; set ulimits: nofile: "
                f"{{soft: {NOFILE_MIN}, hard: {NOFILE_MIN}}}",
                headline=problem,
            )


@check(
    "compose-restart-policy",
    Severity.WARNING,
    groups={"compose"},
    summary="a long-running Compose service whose restart policy is not unless-stopped/always",
)
def compose_restart_policy(inventory: Inventory) -> Iterator[Finding]:
    """Without `unless-stopped` (or `always`) a crashed or OOM-killed container stays down, and
    nothing comes back after a host reboot. One-shot services (another service depends on them
    with `service_completed_successfully`) are exempt."""
    for ref, source, service in _services(inventory, long_running=True):
        restart = service.get("restart") or "no"
        condition = ((service.get("deploy") or {}).get("restart_policy") or {}).get("condition")
        if restart in _RESTARTS or condition == "any":
            continue
        problem = f"service {ref.name} has restart: {restart}"
        yield Finding(
            "compose-restart-policy",
            Severity.WARNING,
            ref,
            f"{source}: {problem}, so it stays down after a crash, an OOM kill or a reboot; "
            "set restart: unless-stopped",
            headline=problem,
        )


@check(
    "compose-build-not-pull",
    Severity.WARNING,
    groups={"compose"},
    summary="a Smartflow service built from source that `docker compose pull` will not update",
)
def compose_build_not_pull(inventory: Inventory) -> Iterator[Finding]:
    """The runbook deploys with `docker compose pull && docker compose up -d`, and warns that a
    service with `build:` is skipped by `pull`: the old container keeps running, and the binary
    it runs no longer matches the source ("never assume the running container matches the
    source code").

    Precisely: a Smartflow service with `build:` is found unless its `pull_policy` is `build`
    (Compose then rebuilds it on every `up`, so `up -d` runs the checked-out source). With
    `build:` alone, `pull` does nothing and `up -d` reuses the image built last time; with
    `build:` and `image:` (and any other pull policy), `pull` fetches the registry's image and
    `up -d` runs that instead of the source. A service that only names an `image:` is what the
    runbook's pull deploys, and is fine."""
    for ref, source, service in _services(inventory):
        build = service.get("build")
        if not build or compose_service(service) is None:
            continue
        if service.get("pull_policy") == "build":
            continue
        context = build.get("context", ".") if isinstance(build, Mapping) else str(build)
        if service.get("image"):
            what = (
                f"`docker compose pull` fetches {service['image']} from the registry and "
                f"`up -d` runs that, not what was built from {context}"
            )
        else:
            what = (
                "`docker compose pull` skips it and `up -d` keeps the image built last time "
                f"from {context}, whatever the source is now"
            )
        problem = (
            f"service {ref.name} has build: and pull_policy: "
            f"{service.get('pull_policy') or 'missing'}"
        )
        image = service.get("image")
        effect = f"replaces the build with {image}" if image else "skips it"
        yield Finding(
            "compose-build-not-pull",
            Severity.WARNING,
            ref,
            f"{source}: {problem}: {what}; either reference a pushed, "
            "versioned image: and remove build:, or set pull_policy: build; then verify the "
            "running build (/version)",
            headline=f"{problem}: `docker compose pull` {effect}",
        )


def mgmt_api_published(inventory: Inventory) -> Iterator[Finding]:
    """`mgmt-api-exposed` for Compose (the id is declared with the Kubernetes checks; call this
    from there): a Smartflow service serving the management API (api-server :7778, or `all`,
    which serves it on its one port) published on every host interface instead of loopback.
    Caddy reaches the services over the Compose network; only Caddy should publish 80/443."""
    for ref, source, service in _services(inventory):
        kind = compose_service(service)
        if kind is None:
            continue
        for port in service.get("ports") or ():
            if not isinstance(port, Mapping):
                continue
            serves_mgmt = kind in MANAGEMENT_TYPES or port.get("target") == MGMT_PORT
            if not serves_mgmt or port.get("host_ip") in _LOOPBACK:
                continue
            published = port.get("published") or "a random port"
            problem = (
                f"service {ref.name} ({kind}) publishes the management API "
                f"(container port {port.get('target')}) on {published} on every host "
                "interface"
            )
            yield Finding(
                "mgmt-api-exposed",
                Severity.ERROR,
                ref,
                f"{source}: {problem}; publish it on 127.0.0.1 only "
                f'("127.0.0.1:{port.get("target")}:{port.get("target")}") or not at all, and '
                "reach it through Caddy with an auth layer",
                headline=problem,
            )
