"""How `sfctl doctor` scales with the size of a cluster.

The healthy fixture cluster (tests/sfctl/doctor/fixtures/healthy: a Smartflow install, cert-manager,
ingress-nginx, nodes, webhooks) is grown by copying its Smartflow namespace N times. For each N it
times, in interleaved rounds (medians):

- baseline: one pass over every object that reads what any check must read (its reference, its
  pod template's containers), the least a linter can do;
- doctor: every check (`diagnose`, suppressions included).

It prints microseconds per object for both, their ratio, and how the per-object cost moves from
the smallest to the largest cluster: flat means linear, a rising ratio means a check that scans
the inventory once per object.

    python benchmarks/bench_doctor.py [--copies 10 100 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from sfctl.doctor.engine import diagnose
from sfctl.doctor.k8s import pod_sources
from sfctl.doctor.model import Inventory, ObjectRef

FIXTURES = Path(__file__).parents[1] / "tests" / "sfctl" / "doctor" / "fixtures" / "healthy"


def _load() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the Smartflow namespace's objects, everything else in the cluster)."""
    import yaml

    install: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for path in sorted(FIXTURES.iterdir()):
        text = path.read_text()
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if "components" in doc:  # the gateway's health JSON: not a cluster object
            continue
        items = doc.get("items", [doc]) if doc.get("kind", "").endswith("List") else [doc]
        (install if path.stem == "smartflow" else rest).extend(items)
    return install, rest


def cluster(copies: int) -> Inventory:
    install, rest = _load()
    inv = Inventory()
    for obj in rest:
        inv.add(copy.deepcopy(obj))
    for i in range(copies):
        for obj in install:
            clone = copy.deepcopy(obj)
            clone["metadata"]["namespace"] = f"smartflow-{i}"
            inv.add(clone)
    return inv


def baseline_pass(inv: Inventory) -> int:
    seen = 0
    for objects in inv.objects.values():
        for obj in objects:
            ObjectRef.of(obj)
            seen += 1
    for source in pod_sources(inv):
        seen += len(source.containers())
    return seen


def _time(fn: Any, inv: Inventory) -> float:
    start = time.perf_counter()
    fn(inv)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load avg {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, {args.rounds} rounds")
    print(
        f"{'copies':>6} {'objects':>8} {'baseline us/obj':>16} {'doctor us/obj':>14} {'ratio':>6}"
    )
    per_object: list[float] = []
    for copies in args.copies:
        inv = cluster(copies)
        n = sum(len(v) for v in inv.objects.values())
        found = diagnose(inv).findings
        assert not found, f"the grown healthy cluster should be clean: {found[:3]}"
        base, doc = [], []
        for _ in range(args.rounds):  # interleaved: drift weighs on both alike
            base.append(_time(baseline_pass, inv))
            doc.append(_time(diagnose, inv))
        b, d = statistics.median(base) / n * 1e6, statistics.median(doc) / n * 1e6
        per_object.append(d)
        print(f"{copies:>6} {n:>8} {b:>16.1f} {d:>14.1f} {d / b:>6.1f}")
    print(
        f"doctor per object, largest / smallest cluster: {per_object[-1] / per_object[0]:.2f}x "
        "(1.0 = linear)"
    )


if __name__ == "__main__":
    main()
