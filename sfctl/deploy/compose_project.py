"""A Compose project on the local engine, through python-on-whales: the few operations a
deploy and a rollout need, each one call. No decisions here (they are in `rollout`)."""

from __future__ import annotations

from pathlib import Path

from python_on_whales import Container, DockerClient

from sfctl.deploy.rollout import ContainerState, Observation
from sfctl.render.compose import COMPOSE_FILE

SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"
CADDY_SERVICE = "caddy"
#: /ready from inside the container (no port is published): prints the status or the error
_READY_PROBE = (
    "import sys, urllib.request as u\n"
    "try:\n"
    "    r = u.urlopen('http://127.0.0.1:%d/ready', timeout=2); print(r.status)\n"
    "except Exception as e:\n"
    "    print(getattr(e, 'code', '') or e); sys.exit(1)\n"
)


class ComposeProject:
    """The project rendered into `directory`, with secrets from `env_file`."""

    def __init__(self, directory: Path, env_file: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.docker = DockerClient(
            compose_files=[directory / COMPOSE_FILE],
            compose_env_files=[env_file],
            compose_project_name=name,
            compose_project_directory=directory,
        )

    # --- the project ---------------------------------------------------------------------

    def containers(self, service: str | None = None) -> list[Container]:
        """This project's containers (stopped ones too), by label: works with no file."""
        found = self.docker.container.list(
            all=True, filters=[("label", f"{PROJECT_LABEL}={self.name}")]
        )
        if service is None:
            return found
        return [c for c in found if labels_of(c).get(SERVICE_LABEL) == service]

    def states(self) -> list[ContainerState]:
        return [
            ContainerState(
                name=c.name,
                service=labels_of(c).get(SERVICE_LABEL, ""),
                id=c.id,
                image_id=str(c.image),
                status=str(c.state.status or ""),
            )
            for c in self.containers()
        ]

    def up(self, *, wait_timeout: int) -> None:
        """Start or update everything the file says, and wait until each is healthy."""
        self.docker.compose.up(
            detach=True, wait=True, wait_timeout=wait_timeout, no_build=True, quiet=True
        )

    def down(self, *, volumes: bool, timeout: int) -> None:
        self.docker.compose.down(remove_orphans=True, volumes=volumes, timeout=timeout, quiet=True)

    def image_id(self, reference: str) -> str:
        return str(self.docker.image.inspect(reference).id)

    def image_labels(self, reference: str) -> dict[str, str]:
        return dict(self.docker.image.inspect(reference).config.labels or {})

    def tag(self, image_id: str, reference: str) -> None:
        self.docker.image.tag(image_id, reference)

    def remove_image(self, image: str) -> None:
        self.docker.image.remove(image, prune=True)

    # --- one service's rollout -----------------------------------------------------------

    def start_beside(self, service: str, old: list[Container]) -> Container:
        """One more container of `service` from the current file; the old ones untouched."""
        before = {c.id for c in old}
        self.docker.compose.up(
            [service],
            detach=True,
            scales={service: len(old) + 1},
            recreate=False,
            no_build=True,
            dependencies=False,
            quiet=True,
        )
        new = [c for c in self.containers(service) if c.id not in before]
        if len(new) != 1:
            raise RuntimeError(f"expected one new {service} container, found {len(new)}")
        return new[0]

    def observe(self, container: Container, port: int, elapsed_s: float) -> Observation:
        container = self.docker.container.inspect(container.id)
        state = container.state
        health = state.health.status if state.health is not None else None
        status = str(state.status)
        ready, probe = False, status
        if status == "running":
            ready, probe = self._probe(container, port)
        return Observation(
            status=status,
            exit_code=state.exit_code,
            restarts=int(container.restart_count or 0),
            health=health,
            ready=ready,
            probe=probe,
            elapsed_s=elapsed_s,
        )

    def _probe(self, container: Container, port: int) -> tuple[bool, str]:
        try:
            out = self.docker.container.execute(
                container, ["python3", "-c", _READY_PROBE % port], tty=False
            )
        except Exception as exc:  # the probe's failure is an observation
            text = getattr(exc, "stdout", None) or getattr(exc, "stderr", None) or str(exc)
            return False, f"/ready: {_last_line(str(text)) or 'no answer'}"
        answer = _last_line(str(out))
        return answer == "200", f"/ready answered {answer}"

    def failure_report(self, container: Container, tail: int) -> list[str]:
        """Its last log lines and health check outputs: why it never became ready."""
        lines: list[str] = []
        try:
            logs = self.docker.container.logs(container, tail=tail)
            lines += [f"log: {line}" for line in str(logs).splitlines()[-tail:]]
        except Exception:  # noqa: S110 - best effort: the container may be gone
            pass
        try:
            health = self.docker.container.inspect(container.id).state.health
            entries = (health.log or [])[-3:] if health is not None else []
            for entry in entries:
                output = _last_line(entry.output or "")
                lines.append(f"health check (exit {entry.exit_code}): {output or 'no output'}")
        except Exception:  # noqa: S110
            pass
        return lines

    def stop(self, container: Container, timeout: int) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns once it has exited."""
        self.docker.container.stop(container, time=timeout)

    def remove(self, container: Container) -> None:
        self.docker.container.remove(container, force=True, volumes=True)

    # --- Caddy ---------------------------------------------------------------------------

    def caddy(self) -> Container | None:
        running = [c for c in self.containers(CADDY_SERVICE) if c.state.status == "running"]
        return running[0] if running else None

    def caddy_reload(self) -> None:
        """Caddy re-reads its mounted Caddyfile (a deploy changed it). Caddy 2.6 cancels the
        requests its old configuration is proxying, so a rollout never does this."""
        caddy = self.caddy()
        if caddy is None:
            return
        command = ["caddy", "reload", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
        self.docker.container.execute(caddy, [*command, "--force"], tty=False)


def labels_of(container: Container) -> dict[str, str]:
    return dict(container.config.labels or {})


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
