"""Realistic Kubernetes objects for the doctor's check tests: the saved dumps under
tests/sfctl/doctor/fixtures (a healthy Smartflow install, a DigitalOcean-like cluster), loaded
fresh for each test so a test can break one thing and expect exactly that finding."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml

from sfctl.doctor.checks import all_checks
from sfctl.doctor.model import Finding, Inventory, ObjectRef

FIXTURES = Path(__file__).parents[1] / "sfctl" / "doctor" / "fixtures"


def fixture_files(name: str) -> list[Path]:
    return sorted((FIXTURES / name).iterdir())


@functools.cache
def _documents(name: str) -> tuple[Any, ...]:
    docs: list[Any] = []
    for path in fixture_files(name):
        text = path.read_text()
        docs.append(json.loads(text) if path.suffix == ".json" else yaml.safe_load(text))
    return tuple(docs)


def cluster(name: str = "healthy") -> Inventory:
    """A fresh inventory of a fixture cluster (its objects and its gateway health JSON)."""
    inv = Inventory()
    for doc in copy.deepcopy(_documents(name)):
        if "components" in doc:
            inv.gateway_health.append((name, doc))
        else:
            inv.add(doc)
    return inv


def get(
    inv: Inventory, kind: str, name: str, namespace: str | None = "smartflow"
) -> dict[str, Any]:
    for obj in inv.of_kind(kind):
        ref = ObjectRef.of(obj)
        if ref.name == name and ref.namespace == namespace:
            return obj
    raise KeyError(f"{kind}/{namespace}/{name} is not in the fixture")


def remove(inv: Inventory, kind: str, name: str, namespace: str | None = "smartflow") -> None:
    inv.objects[kind].remove(get(inv, kind, name, namespace))


def pods_of(inv: Inventory, prefix: str, namespace: str = "smartflow") -> list[dict[str, Any]]:
    return [
        p
        for p in inv.of_kind("Pod")
        if p["metadata"]["namespace"] == namespace and p["metadata"]["name"].startswith(prefix)
    ]


def container(workload: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """The index-th container of a workload's pod template (or of a Pod)."""
    spec = workload["spec"]
    spec = spec.get("template", {}).get("spec", spec)
    found: dict[str, Any] = spec["containers"][index]
    return found


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def run(check_id: str, inv: Inventory) -> list[Finding]:
    return all_checks()[check_id](inv)


def refs(findings: list[Finding]) -> list[str]:
    return sorted(str(f.object) for f in findings)


def partial(inv: Inventory, *kinds: str) -> Inventory:
    """What `kubectl get <kinds> -o json` would have dumped of this cluster: only those kinds."""
    out = Inventory()
    for kind in kinds:
        for obj in inv.of_kind(kind):
            out.add(obj)
    return out


def broken_cluster() -> Inventory:
    """The DigitalOcean-like cluster with a dozen things wrong across most checks (their
    longest messages included): a realistic report to lay out at 80 columns."""
    inv = cluster("doks")
    proxy = get(inv, "Deployment", "smartflow-proxy")
    container(proxy).update(image="ghcr.io/smartflow-ai/smartflow:latest", imagePullPolicy="Always")
    container(proxy)["resources"]["limits"]["cpu"] = "2"
    del container(get(inv, "Deployment", "smartflow-api-server"))["readinessProbe"]
    compliance = get(inv, "Deployment", "smartflow-compliance")
    del container(compliance)["resources"]["limits"]["memory"]
    pod_spec(compliance).pop("dnsConfig", None)
    del inv.objects["NetworkPolicy"]
    ingress = get(inv, "Ingress", "smartflow")
    del ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"]
    ingress["spec"]["rules"][0]["http"]["paths"].append(
        {
            "path": "/api/enterprise",
            "pathType": "Prefix",
            "backend": {"service": {"name": "smartflow-api-server", "port": {"number": 7778}}},
        }
    )
    get(inv, "ConfigMap", "smartflow-env")["data"]["OPENAI_API_KEY"] = "sk-proj-" + "x" * 24
    return inv


def write_dump(inv: Inventory, path: Path) -> Path:
    """The inventory's objects as one `kubectl get -o json` List."""
    items = [obj for objects in inv.objects.values() for obj in objects]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return path
