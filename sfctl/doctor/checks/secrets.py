"""Plaintext secrets where anyone who can read a Deployment or a ConfigMap sees them. The guide:
provider keys, ADMIN_API_KEY and database passwords belong in Secrets (or a secrets manager)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from sfctl.doctor.k8s import PodSource, as_dict, as_list, find, iter_env, labels_of
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.doctor.smartflow import install, labelled

__all__ = ["looks_secret", "secret_name", "secret_value"]

# values: provider and virtual keys (sk-..., sk-sf-..., sk-ant-...), URLs with a password in
# them (postgres://user:pass@host, redis://:pass@host; not redis://:$(REDIS_PASSWORD)@host,
# which Kubernetes fills in from a Secret: what the chart renders), PEM private keys
_VALUE = re.compile(
    r"\bsk-[A-Za-z0-9_-]{16,}"
    r"|\b[a-z][a-z0-9+.-]*://[^/\s:@]*:(?!\$\([A-Za-z_][A-Za-z0-9_]*\)@)[^/\s@]+@"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)
# names: *_KEY, *PASSWORD*, *TOKEN, *SECRET* (MAX_TOKENS, CACHE_KEY_PREFIX, *_FILE are not)
_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|(_KEY|^API_?KEY)$|TOKEN$|CREDENTIALS?$)")
_NOT_A_VALUE = re.compile(r"(_FILE|_PATH|_ENV|_NAME|_REF)$")
_REFERENCE = re.compile(r"^(\$\(.+\)|\$\{.+\}|/.*)$")  # $(VAR), ${VAR}, a file path
_SETTING = re.compile(r"^(true|false|yes|no|on|off|enabled|disabled|[0-9]+(\.[0-9]+)?)$", re.I)


def secret_value(value: str) -> bool:
    return _VALUE.search(value) is not None


def secret_name(name: str) -> bool:
    upper = name.upper().replace("-", "_").replace(".", "_")
    return _NAME.search(upper) is not None and _NOT_A_VALUE.search(upper) is None


def looks_secret(name: str, value: Any) -> bool:
    """A literal that is a secret: by its value's shape, or by a secret-like name holding a
    literal that is neither a reference ($(VAR), a file path) nor a plain setting (a flag, a
    number: SECRET_ROTATION_DAYS=90)."""
    if not isinstance(value, str) or not value.strip():
        return False
    if secret_value(value):
        return True
    literal = value.strip()
    return secret_name(name) and not (_REFERENCE.match(literal) or _SETTING.match(literal))


def _configmaps_used(source: PodSource) -> set[str]:
    names: set[str] = set()
    for container in source.containers(init=True):
        for env_from in map(as_dict, as_list(container.get("envFrom"))):
            names.add(str(as_dict(env_from.get("configMapRef")).get("name", "")))
        for env in map(as_dict, as_list(container.get("env"))):
            ref = as_dict(as_dict(env.get("valueFrom")).get("configMapKeyRef"))
            names.add(str(ref.get("name", "")))
    for volume in map(as_dict, as_list(source.spec.get("volumes"))):
        names.add(str(as_dict(volume.get("configMap")).get("name", "")))
        for projected in map(as_dict, as_list(as_dict(volume.get("projected")).get("sources"))):
            names.add(str(as_dict(projected.get("configMap")).get("name", "")))
    names.discard("")
    return names


def _configmaps(inv: Inventory, sources: list[PodSource]) -> list[dict[str, Any]]:
    """ConfigMaps of the install: labelled Smartflow's, or read by its pods."""
    found: dict[tuple[str | None, str], dict[str, Any]] = {}
    for cm in inv.of_kind("ConfigMap"):
        if labelled(labels_of(cm)):
            ref = ObjectRef.of(cm)
            found[(ref.namespace, ref.name)] = cm
    for source in sources:
        for name in _configmaps_used(source):
            used = find(inv, "ConfigMap", source.namespace, name)
            if used is not None:
                found[(source.namespace, name)] = used
    return list(found.values())


def _hits_in_text(key: str, text: str) -> list[str]:
    """Secret literals in a ConfigMap value: the value itself, or `NAME: value` / `NAME=value`
    lines inside a config file it holds (SMARTFLOW_CONFIG YAML, a .env file)."""
    if looks_secret(key, text) and "\n" not in text.strip():
        return [key]
    hits = []
    for line in text.splitlines():
        match = re.match(r"^\s*-?\s*([A-Za-z_][\w.-]*)\s*[:=]\s*[\"']?([^\"'#\s]+)", line)
        if match and looks_secret(match.group(1), match.group(2)):
            hits.append(f"{key}: {match.group(1)}")
        elif match is None and secret_value(line):
            hits.append(key)
    return hits


def _finding(ref: ObjectRef, where: str, names: list[str]) -> Finding:
    problem = f"{where} holds plaintext secrets ({', '.join(dict.fromkeys(names))})"
    return Finding(
        "secret-in-env",
        Severity.ERROR,
        ref,
        f"{problem}: anyone who can read it, and every backup or GitOps repository it lands "
        "in, has them. Move them into a Secret and reference it (env valueFrom.secretKeyRef "
        "or envFrom.secretRef), then rotate them: they have been exposed.",
        headline=problem,
    )


@check(
    "secret-in-env",
    Severity.ERROR,
    groups={"kubernetes", "security"},
    summary="plaintext secrets in Smartflow env values or ConfigMaps",
)
def secret_in_env(inv: Inventory) -> Iterator[Finding]:
    sources = install(inv)
    for source in sources:
        for container in source.containers(init=True):
            names = [n for n, value in iter_env(container) if looks_secret(n, value)]
            if names:
                where = f"the env of container {container.get('name', '?')}"
                yield _finding(source.ref, where, names)
    for cm in _configmaps(inv, sources):
        data: Mapping[str, Any] = as_dict(cm.get("data"))
        hits = [h for key, value in data.items() if isinstance(value, str)
                for h in _hits_in_text(str(key), value)]  # fmt: skip
        if hits:
            yield _finding(ObjectRef.of(cm), "it", hits)
