"""Which container of a pod a log or exec request means, and what the kubelet answers when it
cannot serve it (the 400 messages `kubectl logs` and `kubectl exec` users know)."""

from __future__ import annotations

from typing import Any

from .errors import bad_request

Obj = dict[str, Any]


def container_names(pod: Obj) -> list[str]:
    spec = pod.get("spec") or {}
    return [str(c.get("name")) for c in spec.get("containers") or []]


def pick_container(pod: Obj, wanted: str) -> str:
    """The container a request names, or the only one (400 when it is ambiguous or unknown)."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    names = container_names(pod)
    init = [str(c.get("name")) for c in (pod.get("spec") or {}).get("initContainers") or []]
    if not wanted:
        if len(names) == 1:
            return names[0]
        raise bad_request(
            f"a container name must be specified for pod {name}, choose one of: "
            f"[{' '.join(names)}]"
            + (f" or one of the init containers: [{' '.join(init)}]" if init else "")
        )
    if wanted not in names and wanted not in init:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


def container_status(pod: Obj, container: str) -> Obj | None:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses"):
        for entry in status.get(key) or []:
            if entry.get("name") == container:
                found: Obj = entry
                return found
    return None


def container_image(pod: Obj, container: str) -> str:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("name") == container:
            return str(c.get("image", ""))
    return ""
