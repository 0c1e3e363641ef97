"""The release's Secret, made from the deployment's secrets file (`.env`, as `sfctl init` writes
it and Compose reads it): the keys the spec needs, nothing else, and never a value printed. A
key the spec needs and the file lacks is an error before anything is applied (otherwise the
pods would sit in CreateContainerConfigError)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sfctl.errors import SfctlError
from sfctl.render.helm import management_auth_secret, secret_name
from sfctl.spec import Spec

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MANAGED_BY = {"app.kubernetes.io/managed-by": "sfctl", "app.kubernetes.io/part-of": "smartflow"}
#: the annotation holding a digest of the Secret's data: `status` and `--dry-run` can say
#: whether the Secret changed without ever showing a value
DATA_DIGEST = "smartflow.io/data-sha256"


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as Compose reads them: blank lines and `#` comments skipped, one pair of
    matching surrounding quotes removed. A malformed line is an error naming its number, never
    its content (it may hold a secret)."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise SfctlError(f"cannot read the secrets file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SfctlError(f"{path}: not a UTF-8 text file") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise SfctlError(f"{path}:{number}: not a KEY=VALUE line")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def required_values(spec: Spec, env: Mapping[str, str], env_file: Path) -> dict[str, str]:
    """The values of every key the spec reads from the Secret; all missing ones in one error."""
    names = [n for n in spec.secret_names() if n != spec.management.basic_auth_hash_env]
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise SfctlError(
            f"{env_file} lacks {', '.join(missing)} (sfctl.yaml needs them): add them, or "
            "rerun `sfctl init` for fresh generated ones"
        )
    return {name: env[name] for name in names}


def secret_manifest(
    name: str, namespace: str, data: Mapping[str, str], labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """An Opaque Secret with `data` as stringData (the API server encodes it)."""
    digest = hashlib.sha256(
        "\0".join(f"{k}={data[k]}" for k in sorted(data)).encode("utf-8")
    ).hexdigest()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {**MANAGED_BY, **(labels or {})},
            "annotations": {DATA_DIGEST: digest},
        },
        "stringData": dict(data),
    }


def release_secrets(spec: Spec, env_file: Path) -> list[dict[str, Any]]:
    """The Secrets the chart reads: the release's (unless the spec names an existing one, which
    sfctl then leaves alone) and the management API's basic-auth htpasswd when configured."""
    env = read_env_file(env_file)
    namespace = spec.kubernetes.namespace
    release = {"app.kubernetes.io/instance": spec.name}  # what teardown deletes by
    secrets: list[dict[str, Any]] = []
    if spec.kubernetes.existing_secret is None:
        data = required_values(spec, env, env_file)
        secrets.append(secret_manifest(secret_name(spec), namespace, data, release))
    mgmt = spec.management
    if mgmt.expose and mgmt.basic_auth_user:
        digest = env.get(mgmt.basic_auth_hash_env)
        if not digest:
            raise SfctlError(
                f"{env_file} lacks {mgmt.basic_auth_hash_env} (the management API's basic-auth "
                "hash): add the line `caddy hash-password` prints"
            )
        secrets.append(
            secret_manifest(
                management_auth_secret(spec),
                namespace,
                {"auth": f"{mgmt.basic_auth_user}:{digest}"},
                release,
            )
        )
    return secrets
