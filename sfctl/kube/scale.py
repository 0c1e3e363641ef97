"""The values a `sfctl scale k8s` upgrade runs with. Pure. A fixed replica count on a service
the HPA scales would be undone by the HPA within seconds, so that is refused with the way to do
it instead; bounds are checked the way the HPA API would refuse them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sfctl.errors import UsageError
from sfctl.kube.upgrade_values import deep_merge

#: the chart's defaults for the proxy's HPA, for a release installed without explicit values
DEFAULT_MIN, DEFAULT_MAX = 2, 8


def scaled_values(
    installed: Mapping[str, Any],
    service_key: str,
    replicas: int | None,
    minimum: int | None,
    maximum: int | None,
) -> dict[str, Any]:
    service = installed.get(service_key) or {}
    autoscaling = service.get("autoscaling") or {}
    autoscaled = service_key == "proxy" and autoscaling.get("enabled", True)
    if minimum is not None or maximum is not None:
        if service_key != "proxy":
            raise UsageError("--min/--max: only the proxy autoscales; use --replicas")
        if replicas is not None:
            raise UsageError("--replicas and --min/--max: choose one")
        low = minimum if minimum is not None else int(autoscaling.get("minReplicas", DEFAULT_MIN))
        high = maximum if maximum is not None else int(autoscaling.get("maxReplicas", DEFAULT_MAX))
        if high < low:
            raise UsageError(f"--max {high} is below --min {low}")
        change = {"autoscaling": {"enabled": True, "minReplicas": low, "maxReplicas": high}}
        return deep_merge(installed, {service_key: change})
    assert replicas is not None
    if autoscaled:
        raise UsageError(
            "the proxy autoscales (HPA): --replicas would be undone by it; set its bounds with "
            "--min/--max, or turn autoscaling off: sfctl upgrade k8s --set "
            "proxy.autoscaling.enabled=false"
        )
    return deep_merge(installed, {service_key: {"replicas": replicas}})
