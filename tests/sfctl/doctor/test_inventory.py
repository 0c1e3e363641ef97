"""The inventory's lookups by name and by namespace follow what was added, however late."""

from __future__ import annotations

from typing import Any

from sfctl.doctor.model import Inventory


def _obj(kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    meta = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def test_named_finds_the_first_match_and_sees_later_additions() -> None:
    inv = Inventory()
    inv.add({**_obj("Service", "proxy", "smartflow"), "spec": {"type": "ClusterIP"}})
    inv.add({**_obj("Service", "proxy", "smartflow"), "spec": {"type": "NodePort"}})
    found = inv.named("Service", "smartflow", "proxy")  # a duplicate: the first one wins
    assert found is not None and found["spec"]["type"] == "ClusterIP"
    assert inv.named("Service", "other", "proxy") is None
    assert inv.named("Namespace", None, "smartflow") is None
    inv.add(_obj("Namespace", "smartflow"))  # added after a lookup missed it
    namespace = inv.named("Namespace", None, "smartflow")
    assert namespace is not None and namespace["kind"] == "Namespace"


def test_in_namespace_groups_and_follows_merges_and_replacements() -> None:
    inv = Inventory()
    inv.add({"kind": "NetworkPolicyList", "items": [_obj("NetworkPolicy", "a", "x")]})
    assert [p["metadata"]["name"] for p in inv.in_namespace("NetworkPolicy", "x")] == ["a"]
    assert inv.in_namespace("NetworkPolicy", "y") == []
    other = Inventory()
    other.add(_obj("NetworkPolicy", "b", "x"))
    inv.merge(other)
    assert [p["metadata"]["name"] for p in inv.in_namespace("NetworkPolicy", "x")] == ["a", "b"]
    inv.objects["NetworkPolicy"] = [_obj("NetworkPolicy", "c", "y")]  # a collector's dedupe
    assert inv.in_namespace("NetworkPolicy", "x") == []
    assert [p["metadata"]["name"] for p in inv.in_namespace("NetworkPolicy", "y")] == ["c"]
