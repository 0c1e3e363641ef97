"""The few objects sfctl applies itself, outside any chart: the release namespace, the Secrets
made from .env and the ClusterIssuer. Server-side apply (`kubectl apply --server-side`), with
field manager `sfctl`, so a second deploy with nothing changed changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sfctl.errors import SfctlError
from sfctl.kube.api import read_json

FIELD_MANAGER = "sfctl"
#: kind -> (API path prefix, plural, namespaced) for what sfctl applies or reads directly
PATHS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "Secret": ("/api/v1", "secrets", True),
    "ClusterIssuer": ("/apis/cert-manager.io/v1", "clusterissuers", False),
    "Certificate": ("/apis/cert-manager.io/v1", "certificates", True),
    "CustomResourceDefinition": (
        "/apis/apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        False,
    ),
}


def object_path(kind: str, name: str, namespace: str | None = None) -> str:
    try:
        prefix, plural, namespaced = PATHS[kind]
    except KeyError:
        raise SfctlError(f"internal error: sfctl does not apply {kind} objects") from None
    if namespaced:
        if not namespace:
            raise SfctlError(f"internal error: a {kind} needs a namespace")
        return f"{prefix}/namespaces/{namespace}/{plural}/{name}"
    return f"{prefix}/{plural}/{name}"


def _request(
    api: Any,
    method: str,
    path: str,
    *,
    body: Any = None,
    query: list[tuple[str, str]] | None = None,
) -> Callable[..., Any]:
    headers = {"Accept": "application/json"}
    if method == "PATCH":
        headers["Content-Type"] = "application/apply-patch+yaml"

    def fetch(**params: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        method_, url, header_params, payload, post = api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(
            method_,
            url,
            header_params=header_params,
            body=payload,
            post_params=post,
            _request_timeout=params["_request_timeout"],
        )
        if not 200 <= response.status <= 299:  # as the generated methods raise
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    return fetch


def server_side_apply(api: Any, obj: dict[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
    """Create or update `obj` as field manager `sfctl` (conflicts forced: sfctl owns these
    objects). The object as the server stored it (or would, with `dry_run`)."""
    meta = obj["metadata"]
    path = object_path(obj["kind"], meta["name"], meta.get("namespace"))
    query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
    if dry_run:
        query.append(("dryRun", "All"))
    what = f"{obj['kind']} {meta['name']}"
    return read_json(_request(api, "PATCH", path, body=obj, query=query), what, verb="apply")


def get_object(
    api: Any, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any] | None:
    """The object, or None when it (or its kind) does not exist."""
    from sfctl.kube.api import NotServed

    path = object_path(kind, name, namespace)
    try:
        return read_json(_request(api, "GET", path), f"{kind} {name}", optional=True, verb="get")
    except NotServed:
        return None


def delete_object(api: Any, kind: str, name: str, namespace: str | None = None) -> bool:
    """True when something was deleted; a missing object is not an error."""
    from sfctl.kube.api import NotServed

    path = object_path(kind, name, namespace)
    try:
        read_json(_request(api, "DELETE", path), f"{kind} {name}", optional=True, verb="delete")
    except NotServed:
        return False
    return True
