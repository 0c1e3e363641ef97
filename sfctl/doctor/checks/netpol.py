"""Redis and PostgreSQL hold keys, budgets and the audit log: the guide wants a NetworkPolicy
that admits only Smartflow pods. NetworkPolicies add up (a pod selected by several is open to
the union of what they allow), so every rule of every policy selecting the datastore counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sfctl.doctor.k8s import (
    PodSource,
    as_dict,
    as_list,
    dig,
    namespace_labels,
    pod_sources,
    selector_matches,
)
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import datastore, in_install, install

__all__ = ["governs_ingress", "open_peers"]


def governs_ingress(policy: dict[str, Any]) -> bool:
    """policyTypes defaults to [Ingress] (plus Egress when egress rules exist)."""
    types = as_list(dig(policy, "spec", "policyTypes"))
    return not types or "Ingress" in types


def _selects(policy: dict[str, Any], source: PodSource) -> bool:
    if (ObjectRef.of(policy).namespace or "default") != source.namespace:
        return False
    return selector_matches(as_dict(dig(policy, "spec", "podSelector")), source.labels)


def _peer_problem(
    inv: Inventory, policy_ns: str, peer: dict[str, Any], sources: list[PodSource]
) -> str | None:
    """Why a `from` peer admits more than Smartflow pods, or None when it does not."""
    if "ipBlock" in peer:
        return f"ipBlock {as_dict(peer['ipBlock']).get('cidr', '?')} (any address in it)"
    pod_selector = peer.get("podSelector")
    ns_selector = peer.get("namespaceSelector")
    if pod_selector is None or not (
        as_dict(pod_selector).get("matchLabels") or as_dict(pod_selector).get("matchExpressions")
    ):
        where = "matching namespaces" if ns_selector is not None else f"namespace {policy_ns}"
        return f"every pod in {where}"
    for source in sources:
        if ns_selector is None:
            in_scope = source.namespace == policy_ns
        else:
            in_scope = selector_matches(
                as_dict(ns_selector), namespace_labels(inv, source.namespace)
            )
        matched = in_scope and selector_matches(as_dict(pod_selector), source.labels)
        if matched and not in_install(source):
            return f"{source.ref}, which is not part of Smartflow"
    return None


def open_peers(inv: Inventory, source: PodSource, sources: list[PodSource]) -> list[str] | None:
    """What can reach the datastore beyond Smartflow pods; None when no policy selects it."""
    # a NetworkPolicy selects pods of its own namespace only ("default" when unset)
    candidates = inv.in_namespace("NetworkPolicy", source.namespace)
    if source.namespace == "default":
        candidates = [*candidates, *inv.in_namespace("NetworkPolicy", None)]
    policies = [p for p in candidates if governs_ingress(p) and _selects(p, source)]
    if not policies:
        return None
    problems: list[str] = []
    for policy in policies:
        ref = ObjectRef.of(policy)
        for rule in map(as_dict, as_list(dig(policy, "spec", "ingress"))):
            peers = [as_dict(p) for p in as_list(rule.get("from"))]
            if not peers:
                problems.append(f"{ref.name} has a rule with no `from` (every source)")
                continue
            for peer in peers:
                why = _peer_problem(inv, ref.namespace or "default", peer, sources)
                if why:
                    problems.append(f"{ref.name} admits {why}")
    return problems


@check(
    "datastore-network-policy-missing",
    Severity.WARNING,
    groups={"kubernetes", "security"},
    summary="Redis or PostgreSQL pods open to more than the Smartflow pods",
)
def datastore_network_policy_missing(inv: Inventory) -> Iterator[Finding]:
    sources = pod_sources(inv)
    for source in install(inv):
        kind = datastore(source)
        if kind is None:
            continue
        problems = open_peers(inv, source, sources)
        if problems == []:
            continue
        label = "Redis" if kind == "redis" else "PostgreSQL"
        what = (
            "no NetworkPolicy selects it, so every pod in the cluster can connect"
            if problems is None
            else "its NetworkPolicies let in more than Smartflow: " + "; ".join(problems)
        )
        yield Finding(
            "datastore-network-policy-missing",
            Severity.WARNING,
            source.ref,
            f"{label} ({what}). Add a NetworkPolicy that selects these pods, with policyTypes "
            "[Ingress] and one ingress rule whose `from` is a podSelector on the Smartflow "
            "pods (app.kubernetes.io/part-of: smartflow) and whose port is the datastore's.",
            headline=f"{label}: {what}",
        )
