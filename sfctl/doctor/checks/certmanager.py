"""cert-manager issues the ingress's TLS certificates and runs an admission webhook: an old or
unready cert-manager breaks TLS renewal and, through that webhook, can stall an upgrade.

Supported minimum: v1.14. Releases before it are out of upstream support and predate the
Kubernetes versions the guide asks for (1.29+); the guide installs v1.19, which Smartflow is
tested with. v1.14 is also where the webhook's default timeout became 30 s (see webhook-timeout).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sfctl.doctor.k8s import as_dict, as_list, containers, dig, labels_of
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import image_name, image_tag

__all__ = ["MINIMUM", "RECOMMENDED", "cert_manager_deployments", "parse_version"]

MINIMUM = (1, 14)
RECOMMENDED = "v1.19.4"  # what the guide installs
_IMAGES = {
    "cert-manager-controller": "controller",
    "cert-manager-webhook": "webhook",
    "cert-manager-cainjector": "cainjector",
}
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    match = _VERSION.match(text or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def cert_manager_deployments(inv: Inventory) -> list[tuple[dict[str, Any], str, str | None]]:
    """(deployment, component, version) for each cert-manager Deployment, recognised by its
    image (quay.io/jetstack/cert-manager-*); the version is the image tag, else the
    `app.kubernetes.io/version` label."""
    found = []
    for deployment in inv.of_kind("Deployment"):
        spec = as_dict(dig(deployment, "spec", "template", "spec"))
        for container in containers(spec):
            image = str(container.get("image", ""))
            component = _IMAGES.get(image_name(image))
            if component is not None:
                tag = image_tag(image)
                version = (
                    tag
                    if parse_version(tag)
                    else labels_of(deployment).get("app.kubernetes.io/version")
                )
                found.append((deployment, component, version))
                break
    return found


def _not_ready(deployment: dict[str, Any]) -> str | None:
    """Why the Deployment is not ready, judged from its status (absent in a manifest: no
    judgement)."""
    status = deployment.get("status")
    if not isinstance(status, dict):
        return None
    wanted = dig(deployment, "spec", "replicas")
    wanted = wanted if isinstance(wanted, int) else 1
    ready = status.get("readyReplicas") or 0
    if wanted > 0 and ready < wanted:
        return f"{ready}/{wanted} replicas ready"
    for condition in map(as_dict, as_list(status.get("conditions"))):
        if condition.get("type") == "Available" and condition.get("status") == "False":
            return f"not Available ({condition.get('reason') or 'no reason given'})"
    return None


@check(
    "cert-manager-version",
    Severity.ERROR,
    groups={"kubernetes", "upgrade"},
    summary=f"cert-manager older than v{MINIMUM[0]}.{MINIMUM[1]}, or its Deployments not ready",
)
def cert_manager_version(inv: Inventory) -> Iterator[Finding]:
    minimum = f"v{MINIMUM[0]}.{MINIMUM[1]}"
    for deployment, component, version in cert_manager_deployments(inv):
        ref = ObjectRef.of(deployment)
        parsed = parse_version(version)
        if parsed is not None and parsed[:2] < MINIMUM:
            problem = f"cert-manager {component} runs {version}, older than {minimum}"
            yield Finding(
                "cert-manager-version",
                Severity.ERROR,
                ref,
                f"{problem}, the oldest "
                "release sfctl supports (older ones get no fixes and predate the Kubernetes "
                f"versions the guide needs). Upgrade to {RECOMMENDED}: helm upgrade cert-manager "
                f"jetstack/cert-manager -n cert-manager --version {RECOMMENDED} --reuse-values "
                "--set webhook.timeoutSeconds=29 (the new release's default of 30 s would block "
                "DigitalOcean upgrades).",
                headline=problem,
            )
        why = _not_ready(deployment)
        if why:
            problem = f"cert-manager {component} is not ready ({why})"
            yield Finding(
                "cert-manager-version",
                Severity.ERROR,
                ref,
                f"{problem}: certificates are not issued "
                "or renewed, and its webhook rejects cert-manager resources while it is down. "
                f"Look at the pods (kubectl -n {ref.namespace} describe deploy {ref.name}) and "
                "fix them before upgrading the cluster.",
                headline=problem,
            )
