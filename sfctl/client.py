"""The management API over HTTP: one method per route, errors as one-line `SfctlError`s.

Which gateway to talk to comes from flags, else the environment, else a gateway `sfctl up` runs
on this machine, in the foreground or detached (its record in the data directory names the
address). The admin key follows the rule `sfctl up` follows (admin_key.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from sfctl import local_record
from sfctl.admin_key import AdminKey, find_admin_key
from sfctl.errors import SfctlError, UsageError
from sfctl.local_record import LocalGateway
from sfctl.spec import CliEnvironment, cli_environment

KEYS = "/api/enterprise/vkeys"
CACHE_STATS = "/api/metacache/stats"
CACHE_PURGE = "/api/metacache/purge"


@dataclass(frozen=True, slots=True)
class AdminTarget:
    url: str
    admin_key: str


def resolve_target(
    url: str | None, admin_key: str | None, environment: CliEnvironment, data_dir: Path | None
) -> AdminTarget:
    """--url/--admin-key, else SMARTFLOW_ADMIN_URL/ADMIN_API_KEY, else the local `sfctl up`."""
    directory = data_dir.expanduser() if data_dir is not None else environment.data_dir
    url = url or environment.admin_url
    gateway = None
    if url is None:
        gateway = local_record.read(directory)
        if gateway is None:
            raise UsageError(
                f"no management API to talk to: no `sfctl up` is running with data directory "
                f"{directory}; start one (`sfctl up`, or `sfctl up --detach`), pass --url or "
                "set SMARTFLOW_ADMIN_URL"
            )
        url = gateway.url
    if not admin_key:
        found = find_admin_key(environment.admin_api_key, directory)
        if gateway is not None:
            _same_key_as(gateway, found, directory)
        admin_key = found.value if found else None
    if not admin_key:
        raise UsageError("no admin key: pass --admin-key or set ADMIN_API_KEY")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {url!r} must start with http:// or https://")
    return AdminTarget(url.rstrip("/"), admin_key)


def _same_key_as(gateway: LocalGateway, found: AdminKey | None, data_dir: Path) -> None:
    """A key that cannot be the local gateway's is a one-line error naming the fix, not a 401:
    `sfctl up` and this shell disagree on whether ADMIN_API_KEY is exported."""
    if gateway.key_from_env and (found is None or found.file is not None):
        raise UsageError(
            f"the gateway at {gateway.url} uses the ADMIN_API_KEY exported where `sfctl up` "
            "ran: export the same ADMIN_API_KEY here, or pass --admin-key"
        )
    if not gateway.key_from_env and found is not None and found.file is None:
        own = find_admin_key(None, data_dir)
        if own is not None and own.value != found.value:
            raise UsageError(
                f"ADMIN_API_KEY is exported here, but the gateway at {gateway.url} was started "
                f"without it and uses the key file {own.file}: unset ADMIN_API_KEY, or pass "
                "--admin-key"
            )


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class AdminClient:
    """Synchronous: sfctl makes one call at a time and prints the answer."""

    def __init__(
        self,
        base_url: str,
        admin_key: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {admin_key}", "User-Agent": "sfctl"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def create_key(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", KEYS, json=body)

    def list_keys(self, *, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return self._call("GET", KEYS, params={"offset": offset, "limit": limit})

    def get_key(self, key_id: str) -> dict[str, Any]:
        return self._call("GET", _key_path(key_id))

    def update_key(self, key_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("PATCH", _key_path(key_id), json=body)

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", _key_path(key_id, "revoke"))

    def rotate_key(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", _key_path(key_id, "rotate"))

    def key_budget(self, key_id: str) -> dict[str, Any]:
        return self._call("GET", _key_path(key_id, "budget"))

    def cache_stats(self) -> dict[str, Any]:
        return self._call("GET", CACHE_STATS)

    def purge_cache(self, namespace: str | None, model: str | None) -> dict[str, Any]:
        """Both None: every entry (the caller asks first)."""
        return self._call("POST", CACHE_PURGE, json={"namespace": namespace, "model": model})

    def openapi(self) -> dict[str, Any]:
        return self._call("GET", "/api/openapi.json")

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = self._client.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            raise SfctlError(
                f"cannot reach the management API at {self.base_url}: {_reason(exc)}"
            ) from None
        except httpx.TimeoutException:
            raise SfctlError(
                f"the management API at {self.base_url} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise SfctlError(f"request to {self.base_url}{path} failed: {_reason(exc)}") from None
        payload = _json(response)
        if response.is_error:
            raise _error(response, payload)
        if not isinstance(payload, dict):
            raise SfctlError(
                f"{method} {path}: expected a JSON object from the management API, got "
                f"{_one_line(response.text, 80)!r} (HTTP {response.status_code})"
            )
        return payload


def _key_path(key_id: str, action: str | None = None) -> str:
    if not key_id.strip():
        raise UsageError("a key id is required (see `sfctl keys list`)")
    path = f"{KEYS}/{quote(key_id, safe='')}"
    return f"{path}/{action}" if action else path


def _reason(exc: httpx.HTTPError) -> str:
    return _one_line(str(exc)) or type(exc).__name__


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error(response: httpx.Response, payload: Any) -> SfctlError:
    message = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        message = payload["error"].get("message")
    text = _one_line(str(message) if message else response.text or response.reason_phrase)
    status = response.status_code
    if status == 401:
        return SfctlError(f"the management API refused the admin key (401): {text}")
    if status in (400, 422):
        return UsageError(f"the management API rejected the request ({status}): {text}")
    return SfctlError(f"{text} (HTTP {status})")


@contextmanager
def admin_client(
    url: str | None, admin_key: str | None, data_dir: Path | None, timeout: float
) -> Iterator[AdminClient]:
    """The client a management command opens from its --url/--admin-key/--data-dir options."""
    target = resolve_target(url, admin_key, cli_environment(), data_dir)
    with AdminClient(target.url, target.admin_key, timeout=timeout) as client:
        yield client
