"""What the API server refuses before storing an object, with the real status code and message:
cert-manager's validating webhook while it has no ready backend (the famous 'failed calling
webhook "webhook.cert-manager.io"' right after installing the chart), the webhook's own
validation, and the workload validation and immutable fields Helm upgrades run into.
"""

from __future__ import annotations

import json
from typing import Any

from .workloads_base import condition_true, group_of, selector_matches

Obj = dict[str, Any]

CERT_MANAGER_GROUPS = ("cert-manager.io", "acme.cert-manager.io")
WEBHOOK_DOWN = (
    'Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call '
    'webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=29s": '
    "dial tcp 10.96.0.10:443: connect: connection refused"
)
_ISSUER_TYPES = ("acme", "ca", "selfSigned", "vault", "venafi")


def check(obj: Obj, objects: list[Obj]) -> tuple[int, str] | None:
    """None to admit `obj` (being created, updated or applied), else (HTTP code, message)."""
    group = group_of(str(obj.get("apiVersion", "")))
    kind = str(obj.get("kind", ""))
    old = _stored(obj, objects)
    if group in CERT_MANAGER_GROUPS:
        if not _webhook_ready(objects):
            return 500, _webhook_down(objects)
        return _cert_manager_denial(obj)
    unreachable = _unreachable_webhook(obj, objects)
    if unreachable is not None:
        return 500, unreachable
    if group == "apps" and kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        return _workload(obj, old)
    if group == "batch" and kind == "Job" and old is not None:
        return _immutable(obj, old, "spec.template", ("spec", "template"))
    if group == "autoscaling" and kind == "HorizontalPodAutoscaler":
        spec = obj.get("spec") or {}
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 0))
        if high < low:
            return 422, (
                f"{_what(obj)} is invalid: spec.maxReplicas: Invalid value: {high}: "
                "must be greater than or equal to `minReplicas`"
            )
        if low < 1:
            return (
                422,
                f"{_what(obj)} is invalid: spec.minReplicas: Invalid value: {low}: must be greater than or equal to 1",
            )
    return None


def _webhook_down(objects: list[Obj]) -> str:
    """WEBHOOK_DOWN with the installed configuration's timeout and the Service's address."""
    timeout, ip = 29, "10.96.0.10"
    for o in objects:
        meta = o.get("metadata") or {}
        if (
            o.get("kind") == "ValidatingWebhookConfiguration"
            and meta.get("name") == "cert-manager-webhook"
        ):
            hooks = o.get("webhooks") or [{}]
            timeout = int(hooks[0].get("timeoutSeconds") or 10)
        if (o.get("kind"), meta.get("namespace"), meta.get("name")) == (
            "Service",
            "cert-manager",
            "cert-manager-webhook",
        ):
            ip = str((o.get("spec") or {}).get("clusterIP") or ip)
    return WEBHOOK_DOWN.replace("timeout=29s", f"timeout={timeout}s").replace("10.96.0.10", ip)


def _plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


def _unreachable_webhook(obj: Obj, objects: list[Obj]) -> str | None:
    """The API server calls every validating webhook whose rules match (ingress-nginx's
    `validate.nginx.ingress.kubernetes.io` for Ingresses): with no ready pod behind its Service
    the call fails, and failurePolicy Fail makes the write fail with it."""
    api_version = str(obj.get("apiVersion", ""))
    group, version = group_of(api_version), api_version.rpartition("/")[2]
    resource = _plural(str(obj.get("kind", "")))
    for config in objects:
        if config.get("kind") != "ValidatingWebhookConfiguration":
            continue
        for hook in config.get("webhooks") or []:
            if hook.get("failurePolicy", "Fail") == "Ignore" or not any(
                _rule_matches(rule, group, version, resource) for rule in hook.get("rules") or []
            ):
                continue
            service = (hook.get("clientConfig") or {}).get("service")
            if not service:
                continue
            why = _service_down(service, objects)
            if why is None:
                continue
            port = int(service.get("port") or 443)
            url = (
                f"https://{service.get('name')}.{service.get('namespace')}.svc:{port}"
                f"{service.get('path') or ''}?timeout={int(hook.get('timeoutSeconds') or 10)}s"
            )
            return (
                f'Internal error occurred: failed calling webhook "{hook.get("name")}": '
                f'failed to call webhook: Post "{url}": {why}'
            )
    return None


def _rule_matches(rule: Obj, group: str, version: str, resource: str) -> bool:
    def has(values: Any, value: str) -> bool:
        return "*" in (values or []) or value in (values or [])

    return (
        has(rule.get("apiGroups"), group)
        and has(rule.get("apiVersions"), version)
        and has(rule.get("resources"), resource)
        and bool({"CREATE", "UPDATE", "*"} & set(rule.get("operations") or []))
    )


def _service_down(service: Obj, objects: list[Obj]) -> str | None:
    """Why the API server cannot reach a webhook Service, None when a ready pod backs it."""
    name, namespace = service.get("name"), service.get("namespace")
    svc = next(
        (
            o
            for o in objects
            if o.get("kind") == "Service"
            and (o.get("metadata") or {}).get("name") == name
            and (o.get("metadata") or {}).get("namespace") == namespace
        ),
        None,
    )
    if svc is None:
        return f'service "{name}" not found'
    selector = (svc.get("spec") or {}).get("selector") or {}
    for pod in objects:
        meta = pod.get("metadata") or {}
        if (
            pod.get("kind") == "Pod"
            and meta.get("namespace") == namespace
            and selector
            and selector_matches({"matchLabels": selector}, meta.get("labels"))
            and condition_true(pod, "Ready")
            and not meta.get("deletionTimestamp")
        ):
            return None
    return f'no endpoints available for service "{name}"'


def _stored(obj: Obj, objects: list[Obj]) -> Obj | None:
    meta = obj.get("metadata") or {}
    group = group_of(str(obj.get("apiVersion", "")))
    for o in objects:
        m = o.get("metadata") or {}
        if (
            o.get("kind") == obj.get("kind")
            and group_of(str(o.get("apiVersion", ""))) == group
            and m.get("name") == meta.get("name")
            and (m.get("namespace") or "") == (meta.get("namespace") or "")
        ):
            return o
    return None


def _what(obj: Obj) -> str:
    group = group_of(str(obj.get("apiVersion", "")))
    name = (obj.get("metadata") or {}).get("name")
    return f'{obj.get("kind")}{"." + group if group else ""} "{name}"'


def _webhook_ready(objects: list[Obj]) -> bool:
    for o in objects:
        meta = o.get("metadata") or {}
        if (
            o.get("kind") == "Deployment"
            and meta.get("name") == "cert-manager-webhook"
            and meta.get("namespace") == "cert-manager"
        ):
            return condition_true(o, "Available")
    return False


def _cert_manager_denial(obj: Obj) -> tuple[int, str] | None:
    """A few of the webhook's validations, in its words."""
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    problem = None
    if kind in ("ClusterIssuer", "Issuer"):
        configured = [t for t in _ISSUER_TYPES if t in spec]
        if not configured:
            problem = "spec: Required value: at least one issuer must be configured"
        elif len(configured) > 1:
            problem = "spec: Forbidden: may not specify more than one issuer type"
        elif "acme" in spec:
            acme = spec["acme"] or {}
            if not (acme.get("privateKeySecretRef") or {}).get("name"):
                problem = "spec.acme.privateKeySecretRef.name: Required value: private key secret name is a required field"
            elif not acme.get("server"):
                problem = "spec.acme.server: Required value: acme server URL is a required field"
    elif kind == "Certificate":
        if not spec.get("secretName"):
            problem = "spec.secretName: Required value: must be specified"
        elif not (spec.get("issuerRef") or {}).get("name"):
            problem = "spec.issuerRef.name: Required value: must be specified"
        elif not (
            spec.get("dnsNames")
            or spec.get("commonName")
            or spec.get("ipAddresses")
            or spec.get("uris")
        ):
            problem = 'spec: Invalid value: "": at least one of commonName (from the commonName field or from a literalSubject), dnsNames, uriSANs, ipAddresses, emailSANs or otherNames must be set'
    if problem is None:
        return None
    return 400, f'admission webhook "webhook.cert-manager.io" denied the request: {problem}'


def _workload(obj: Obj, old: Obj | None) -> tuple[int, str] | None:
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if obj.get("kind") != "ReplicaSet" and not selector:
        return 422, f"{_what(obj)} is invalid: spec.selector: Required value"
    if selector and not selector_matches(selector, labels):
        rendered = (
            "map[string]string{"
            + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
            + "}"
        )
        return 422, (
            f"{_what(obj)} is invalid: spec.template.metadata.labels: Invalid value: {rendered}: "
            "`selector` does not match template `labels`"
        )
    if old is None:
        return None
    denial = _immutable(obj, old, "spec.selector", ("spec", "selector"))
    if denial is not None or obj.get("kind") != "StatefulSet":
        return denial
    if _sts_fixed(spec) != _sts_fixed(old.get("spec") or {}):
        return 422, (
            f"{_what(obj)} is invalid: spec: Forbidden: updates to statefulset spec for fields other "
            "than 'replicas', 'ordinals', 'template', 'updateStrategy', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        )
    return None


def _sts_fixed(spec: Obj) -> tuple[Any, ...]:
    """The StatefulSet fields an update may not change (besides the selector), compared the
    way they would be after defaulting: claim names, sizes, access modes and class."""
    claims = []
    for claim in spec.get("volumeClaimTemplates") or []:
        claim_spec = claim.get("spec") or {}
        claims.append(
            (
                (claim.get("metadata") or {}).get("name"),
                ((claim_spec.get("resources") or {}).get("requests") or {}).get("storage"),
                tuple(claim_spec.get("accessModes") or ()),
                claim_spec.get("storageClassName"),
            )
        )
    return (
        tuple(claims),
        spec.get("serviceName") or "",
        spec.get("podManagementPolicy") or "OrderedReady",
    )


def _immutable(obj: Obj, old: Obj, field: str, path: tuple[str, ...]) -> tuple[int, str] | None:
    new_value: Any = obj
    old_value: Any = old
    for part in path:
        new_value = (new_value or {}).get(part)
        old_value = (old_value or {}).get(part)
    if new_value == old_value:
        return None
    return (
        422,
        f"{_what(obj)} is invalid: {field}: Invalid value: {json.dumps(new_value, sort_keys=True)}: field is immutable",
    )
