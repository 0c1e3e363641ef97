"""One way to reach a Kubernetes API server with the official client: the kubeconfig (or the
in-cluster service account) chosen the way kubectl chooses it, JSON as the API sends it
(camelCase, as `kubectl get -o json` prints), and every failure as one `SfctlError` line. The
doctor's collector, the rollout wait, verify and status all read the cluster through here."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sfctl.errors import SfctlError

__all__ = [
    "INSTALL_HINT",
    "ApiError",
    "KubeTarget",
    "NotServed",
    "Unreachable",
    "api_client",
    "api_error",
    "list_all",
    "one_line",
    "read_json",
]

PAGE = 500
TIMEOUT = (5, 60)  # connect, read (seconds): a cluster that does not answer is an error, fast
INSTALL_HINT = "the Kubernetes client is not installed: pip install 'smartflow[k8s]'"


@dataclass(frozen=True, slots=True)
class KubeTarget:
    """Which cluster and namespace a command works on (None: kubectl's defaults)."""

    kubeconfig: Path | None
    context: str | None
    namespace: str


class ApiError(SfctlError):
    """An error answer of the API server: the one-line text, plus the HTTP status and the
    server's own message for callers that decide on them (retry while a webhook starts)."""

    def __init__(self, text: str, status: int, server_message: str) -> None:
        super().__init__(text, exit_code=2)
        self.status = status
        self.server_message = server_message


class Unreachable(SfctlError):
    """The API server did not answer (refused, timed out, TLS failed). Callers that know
    which server it was say so with `detail`; uncaught, it is still one line and exit 2."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"cannot reach the Kubernetes API: {detail}", exit_code=2)
        self.detail = detail


class NotServed(Exception):
    """An API group the server does not serve (404) or cannot reach (503)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def api_client(kubeconfig: Path | None, context: str | None) -> Any:
    """A `kubernetes.client.ApiClient` for `kubeconfig`/`context` (default: $KUBECONFIG or
    ~/.kube/config and its current context, else the in-cluster service account). Retries are
    off: an unreachable server fails once, not after urllib3's backoff."""
    try:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException
    except ImportError:
        raise SfctlError(INSTALL_HINT, exit_code=2) from None

    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and _in_cluster():
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig.expanduser()) if kubeconfig else None,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as exc:
        raise SfctlError(_load_error(kubeconfig, str(exc)), exit_code=2) from None
    configuration.retries = False
    return client.ApiClient(configuration)


def _load_error(kubeconfig: Path | None, detail: str) -> str:
    """Which file was read (kubectl's order), and the way out when there is none."""
    import os

    if kubeconfig is not None:
        where = str(kubeconfig)
    elif os.environ.get("KUBECONFIG"):
        where = f"$KUBECONFIG ({os.environ['KUBECONFIG']})"
    else:
        where = "~/.kube/config"
    paths = (
        [kubeconfig]
        if kubeconfig
        else [
            Path(p).expanduser()
            for p in os.environ.get("KUBECONFIG", "~/.kube/config").split(":")
            if p
        ]
    )
    if not any(p.expanduser().is_file() for p in paths):
        return f"no kubeconfig at {where}: pass --kubeconfig FILE, or set KUBECONFIG"
    return f"cannot load the kubeconfig {where}: {one_line(detail)}"


def _in_cluster() -> bool:
    from kubernetes.config import kube_config

    default = Path(kube_config.KUBE_CONFIG_DEFAULT_LOCATION).expanduser()
    token = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    return not default.exists() and token.exists()


def read_json(
    fetch: Callable[..., Any],
    what: str,
    *,
    optional: bool = False,
    verb: str = "list",
    **params: Any,
) -> dict[str, Any]:
    """`fetch(**params)` as the API's own JSON. An API error is one `SfctlError` line naming
    `what`; a server that does not answer raises `Unreachable`; with `optional`, a 404 or 503
    raises `NotServed` instead of an error."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        response = fetch(**params, _preload_content=False, _request_timeout=TIMEOUT)
        payload = json.loads(response.data)
    except ApiException as exc:
        if optional and exc.status in (404, 503):
            raise NotServed(exc.status) from None
        raise api_error(exc, what, verb=verb) from None
    except HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the cause
        detail = str(reason).rsplit(": ", 1)[-1].rstrip(")'\"")
        raise Unreachable(one_line(detail)) from None
    except ValueError:
        message = f"{verb} {what}: the API server did not answer JSON"
        raise SfctlError(message, exit_code=2) from None
    if not isinstance(payload, dict):
        raise SfctlError(f"{verb} {what}: unexpected answer from the API server", exit_code=2)
    return payload


def list_all(
    fetch: Callable[..., Any], kind: str, *, optional: bool = False, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a list call, following `continue` tokens."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = read_json(fetch, kind, optional=optional, limit=PAGE, _continue=token, **params)
        items += [i for i in page.get("items") or [] if isinstance(i, dict)]
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return items


def api_error(exc: Any, what: str, *, verb: str = "list") -> ApiError:
    """An `ApiException` as one line: the HTTP status in words and the server's own message."""
    status = getattr(exc, "status", 0)
    message = one_line(status_message(exc) or str(getattr(exc, "reason", "")) or "no message")
    if status == 401:
        text = f"the Kubernetes API refused the credentials (401): {message}"
    elif status == 403:
        text = f"forbidden to {verb} {what}: {message}; sfctl needs {verb} on it"
    elif status == 0:
        text = f"cannot reach the Kubernetes API: {message}"
    else:
        text = f"{verb} {what} failed (HTTP {status}): {message}"
    return ApiError(text, status, message)


def status_message(exc: Any) -> str | None:
    """The `message` of the metav1.Status the API server answers errors with."""
    body = getattr(exc, "body", None)
    if body is None and getattr(exc, "data", None) is not None:
        body = exc.data
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return body[:200] if isinstance(body, str) else None
    return str(status["message"]) if isinstance(status, dict) and status.get("message") else None


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
