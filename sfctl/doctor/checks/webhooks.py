"""Admission webhooks that stop a cluster upgrade: DigitalOcean's pre-upgrade lint (clusterlint's
`admission-controller-webhook-timeout`, `-replacement` and the basic `admission-controller-webhook`
checks), with the guide's cert-manager fix (webhook.timeoutSeconds: 29)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sfctl.doctor.k8s import (
    as_dict,
    as_list,
    dig,
    find,
    namespace_labels,
    pod_sources,
    selector_matches,
)
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check

__all__ = ["MAX_TIMEOUT_S", "applies_to_core_or_apps", "blocks_node_replacement"]

KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
MAX_TIMEOUT_S = 29  # DigitalOcean: every webhook timeout within 1..29 s
SYSTEM_NAMESPACE = "kube-system"
_APPS_VERSIONS = frozenset({"v1", "v1beta1", "v1beta2", "*"})


def _webhooks(inv: Inventory) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    for config in inv.of_kind(*KINDS):
        yield config, [as_dict(w) for w in as_list(config.get("webhooks"))]


def _is_cert_manager(config: dict[str, Any], hooks: list[dict[str, Any]]) -> bool:
    services = [as_dict(dig(w, "clientConfig", "service")).get("name", "") for w in hooks]
    return "cert-manager" in ObjectRef.of(config).name or any(
        "cert-manager" in str(s) for s in services
    )


@check(
    "webhook-timeout",
    Severity.ERROR,
    groups={"kubernetes", "upgrade"},
    summary="an admission webhook's timeoutSeconds outside 1..29 (blocks DigitalOcean upgrades)",
)
def webhook_timeout(inv: Inventory) -> Iterator[Finding]:
    """Unset is fine: the API server defaults it to 10 s (admissionregistration/v1)."""
    for config, hooks in _webhooks(inv):
        bad = [
            f"{w.get('name', '?')} has timeoutSeconds {w['timeoutSeconds']}"
            for w in hooks
            if w.get("timeoutSeconds") is not None
            and not (isinstance(w["timeoutSeconds"], int) and 1 <= w["timeoutSeconds"] <= 29)
        ]
        if not bad:
            continue
        if _is_cert_manager(config, hooks):
            fix = (
                "cert-manager >= 1.14 defaults its webhook timeout to 30 s: set "
                "`webhook.timeoutSeconds: 29` in cert-manager's Helm values (helm upgrade "
                "cert-manager jetstack/cert-manager -n cert-manager --reuse-values "
                "--set webhook.timeoutSeconds=29)"
            )
        else:
            fix = f"Set timeoutSeconds to {MAX_TIMEOUT_S} or less where this webhook is installed"
        yield Finding(
            "webhook-timeout",
            Severity.ERROR,
            ObjectRef.of(config),
            f"{'; '.join(bad)}: DigitalOcean cluster upgrades require every admission webhook "
            f"timeout to be between 1 and {MAX_TIMEOUT_S} seconds, so this blocks node "
            f"upgrades. {fix}.",
            headline="; ".join(bad),
        )


def applies_to_core_or_apps(hook: dict[str, Any]) -> bool:
    """Whether a rule matches `v1` or `apps/*` resources: only those keep system pods (and the
    webhook's own) from starting; a webhook on CRDs alone never blocks node replacement."""
    for rule in map(as_dict, as_list(hook.get("rules"))):
        groups = {str(g) for g in as_list(rule.get("apiGroups"))}
        versions = {str(v) for v in as_list(rule.get("apiVersions"))}
        core = bool(groups & {"", "*"}) and bool(versions & {"v1", "*"})
        apps = bool(groups & {"apps", "*"}) and bool(versions & _APPS_VERSIONS)
        if core or apps:
            return True
    return False


def _object_selector_exempts(inv: Inventory, hook: dict[str, Any]) -> bool:
    """An opt-in objectSelector (one that matches neither an unlabelled object nor any known
    kube-system pod) keeps system pods out of the webhook's reach."""
    selector = hook.get("objectSelector")
    if selector is None or selector_matches(as_dict(selector), {}):
        return False
    system = [s.labels for s in pod_sources(inv) if s.namespace == SYSTEM_NAMESPACE]
    return not any(selector_matches(as_dict(selector), lbls) for lbls in system)


def blocks_node_replacement(inv: Inventory, hook: dict[str, Any]) -> bool:
    """clusterlint's rule: failurePolicy Fail, a service other than the API server, rules on
    v1/apps resources, a namespaceSelector that matches kube-system and also the service's own
    namespace (or a single-node cluster, where the webhook's pods have nowhere else to run)."""
    if hook.get("failurePolicy", "Fail") == "Ignore":  # admissionregistration/v1 default: Fail
        return False
    service = as_dict(dig(hook, "clientConfig", "service"))
    if not service:
        return False  # a URL outside the cluster
    if service.get("namespace") == "default" and service.get("name") == "kubernetes":
        return False
    if not applies_to_core_or_apps(hook) or _object_selector_exempts(inv, hook):
        return False
    selector = as_dict(hook.get("namespaceSelector"))  # unset means {}: every namespace
    if not selector_matches(selector, namespace_labels(inv, SYSTEM_NAMESPACE)):
        return False
    own = namespace_labels(inv, str(service.get("namespace", "")))
    nodes = len(list(inv.of_kind("Node")))
    return selector_matches(selector, own) or nodes == 1  # no nodes known: assume several


@check(
    "webhook-blocks-node-replacement",
    Severity.ERROR,
    groups={"kubernetes", "upgrade"},
    summary="a failurePolicy: Fail webhook that can keep system pods from starting on new nodes",
)
def webhook_blocks_node_replacement(inv: Inventory) -> Iterator[Finding]:
    for config, hooks in _webhooks(inv):
        hook = next((w for w in hooks if blocks_node_replacement(inv, w)), None)
        if hook is None:
            continue  # like clusterlint: one finding per configuration
        service = as_dict(dig(hook, "clientConfig", "service"))
        ns = service.get("namespace", "?")
        problem = (
            f"webhook {hook.get('name', '?')} has failurePolicy Fail, is served by "
            f"{ns}/{service.get('name', '?')} and applies to pods in kube-system and in {ns}"
        )
        yield Finding(
            "webhook-blocks-node-replacement",
            Severity.ERROR,
            ObjectRef.of(config),
            f"{problem}: "
            "while nodes are replaced during an upgrade, its own pods and kube-system's cannot "
            "start until it answers, and it cannot answer until they start. Set failurePolicy: "
            "Ignore, or add a namespaceSelector that excludes kube-system and "
            f"{ns} (matchExpressions: key kubernetes.io/metadata.name, operator NotIn, "
            f"values [kube-system, {ns}]).",
            headline=problem,
        )


def _missing(inv: Inventory, hook: dict[str, Any]) -> str | None:
    """What is missing for a service-backed webhook, judged only from what was collected."""
    service = as_dict(dig(hook, "clientConfig", "service"))
    ns, name = str(service.get("namespace", "")), str(service.get("name", ""))
    namespaces = {ObjectRef.of(n).name for n in inv.of_kind("Namespace")}
    if namespaces and ns not in namespaces:
        return f"namespace {ns} does not exist"
    services = list(inv.of_kind("Service"))
    listed = {ObjectRef.of(s).namespace for s in services}
    cluster_wide = find(inv, "Service", "default", "kubernetes") is not None and len(listed) > 1
    if (ns in listed or cluster_wide) and find(inv, "Service", ns, name) is None:
        return f"service {ns}/{name} does not exist"
    return None


@check(
    "webhook-service-missing",
    Severity.ERROR,
    groups={"kubernetes", "upgrade"},
    summary="an admission webhook pointing at a Service or namespace that does not exist",
)
def webhook_service_missing(inv: Inventory) -> Iterator[Finding]:
    for config, hooks in _webhooks(inv):
        for hook in hooks:
            if not dig(hook, "clientConfig", "service"):
                continue
            missing = _missing(inv, hook)
            if missing:
                policy = hook.get("failurePolicy", "Fail")
                effect = (
                    "every request it matches is rejected"
                    if policy != "Ignore"
                    else "every request it matches waits for its timeout"
                )
                yield Finding(
                    "webhook-service-missing",
                    Severity.ERROR,
                    ObjectRef.of(config),
                    f"webhook {hook.get('name', '?')} calls a service that cannot answer "
                    f"({missing}): {effect} (failurePolicy {policy}). Point clientConfig.service "
                    "at the right service, or delete the configuration if what installed it is "
                    "gone.",
                    headline=f"webhook {hook.get('name', '?')} calls a service that cannot "
                    f"answer ({missing})",
                )
