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
    return spec["containers"][index]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def run(check_id: str, inv: Inventory) -> list[Finding]:
    return all_checks()[check_id](inv)


def refs(findings: list[Finding]) -> list[str]:
    return sorted(str(f.object) for f in findings)
