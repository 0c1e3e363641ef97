"""GET /api/v1/namespaces/N/pods/P/log: the text the kubelet would stream, from a hook that
knows what each image prints; the kubelet's refusals (container still waiting to start, no
previous terminated container) as 400 Status answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from .errors import bad_request
from .pods import Obj, container_status, pick_container

#: (pod, container, previous) -> the lines that container instance printed
LogSource = Callable[[Obj, str, bool], list[str]]


def pod_log(pod: Obj, query: Mapping[str, str], source: LogSource, now: datetime) -> str:
    name = str((pod.get("metadata") or {}).get("name", ""))
    container = pick_container(pod, query.get("container", ""))
    status = container_status(pod, container) or {}
    state, last = status.get("state") or {}, status.get("lastState") or {}
    previous = query.get("previous", "").lower() == "true"
    if previous and "terminated" not in last:
        raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    if not previous and "running" not in state and "terminated" not in state:
        if "terminated" not in last:  # never started: nothing to show yet
            reason = (state.get("waiting") or {}).get("reason") or "ContainerCreating"
            if reason in ("ImagePullBackOff", "ErrImagePull"):
                reason = "trying and failing to pull image"
            raise bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        previous = True  # crash-looping: the kubelet serves the last instance's log
    lines = list(source(pod, container, previous))
    tail = query.get("tailLines")
    if tail is not None and tail.lstrip("-").isdigit() and int(tail) >= 0:
        lines = lines[len(lines) - int(tail) :] if int(tail) else []
    if query.get("timestamps", "").lower() == "true":
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000000000Z")
        lines = [f"{stamp} {line}" for line in lines]
    text = "".join(f"{line}\n" for line in lines)
    limit = query.get("limitBytes")
    if limit and limit.isdigit():
        text = text[: int(limit)]
    return text
