"""The MCP server and A2A agent registry of the management API, for `sfctl mcp` and `sfctl a2a`.

Also builds the registration bodies from command-line values (`--header NAME=ENV_VAR`, the OAuth
options): they name environment variables of the gateway, never a secret, and a malformed one is
a one-line usage error before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sfctl.client import AdminClient, resolve_target
from sfctl.errors import SfctlError, UsageError
from sfctl.spec import cli_environment

SERVERS = "/api/admin/mcp/servers"
AGENTS = "/api/admin/a2a/agents"
TOOLS = "/api/mcp/tools"
AUTH = "/api/mcp/auth"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class RegistryClient(AdminClient):
    """AdminClient with the registry routes."""

    def add_server(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", SERVERS, json=body)

    def servers(self) -> list[dict[str, Any]]:
        return _rows(self._call("GET", SERVERS), SERVERS, "servers")

    def server(self, name: str) -> dict[str, Any]:
        return self._call("GET", _path(SERVERS, name, "MCP server"))

    def remove_server(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", _path(SERVERS, name, "MCP server"))

    def server_tools(self, name: str) -> dict[str, Any]:
        """{server, healthy, error, tools}: the server's tools/list now, or why it failed."""
        path = _path(SERVERS, name, "MCP server") + "/tools"
        answer = self._call("GET", path)
        _rows(answer, path, "tools")  # the shape is checked
        return answer

    def add_agent(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", AGENTS, json=body)

    def agents(self) -> list[dict[str, Any]]:
        return _rows(self._call("GET", AGENTS), AGENTS, "agents")

    def remove_agent(self, name: str) -> dict[str, Any]:
        return self._call("DELETE", _path(AGENTS, name, "A2A agent"))


def _path(base: str, name: str, what: str) -> str:
    if not name.strip():
        raise UsageError(f"an {what} name is required")
    return f"{base}/{quote(name, safe='')}"


def _rows(payload: dict[str, Any], path: str, key: str) -> list[dict[str, Any]]:
    rows = payload.get(key)
    if not isinstance(rows, list):
        raise SfctlError(f"GET {path}: expected {{{key!r}: [...]}} from the management API")
    return [row for row in rows if isinstance(row, dict)]


@contextmanager
def registry_client(
    url: str | None, admin_key: str | None, data_dir: Path | None, timeout: float
) -> Iterator[RegistryClient]:
    """The client a registry command opens from its --url/--admin-key/--data-dir options."""
    target = resolve_target(url, admin_key, cli_environment(), data_dir)
    client = RegistryClient(target.url, target.admin_key, timeout=timeout)
    with client:
        yield client


def env_headers(values: Sequence[str]) -> list[dict[str, str]]:
    """`--header Authorization=DOCS_TOKEN` -> {"header": ..., "env": ...}: the gateway sends
    the header with the value of its environment variable DOCS_TOKEN."""
    headers = []
    for value in values:
        header, sep, env = value.partition("=")
        header, env = header.strip(), env.strip()
        if not sep or not _HEADER_NAME.fullmatch(header) or not _ENV_NAME.fullmatch(env):
            raise UsageError(
                f"--header {value!r}: use HEADER=ENV_VAR, e.g. Authorization=DOCS_TOKEN (the "
                "gateway reads the value from its environment variable; never pass a secret)"
            )
        headers.append({"header": header, "env": env})
    return headers


def registration(
    name: str,
    target: dict[str, Any],
    *,
    headers: list[dict[str, str]],
    oauth: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A registration's body: its name and target (a URL, or a stdio command), the `auth` of
    `headers` (see `env_headers`) and `oauth`, and each of `fields` given (not None, not [])."""
    body: dict[str, Any] = {"name": name, **target}
    auth: dict[str, Any] = {}
    if headers:
        auth["headers"] = headers
    if oauth is not None:
        auth["oauth"] = oauth
    if auth:
        body["auth"] = auth
    body.update({k: v for k, v in fields.items() if v is not None and v != []})
    return body


def oauth(
    token_url: str | None,
    client_id: str | None,
    secret_env: str | None,
    scope: str | None,
    audience: str | None,
) -> dict[str, Any] | None:
    """The OAuth client-credentials block, or None when no --oauth-* option is given."""
    given = {
        "--oauth-token-url": token_url,
        "--oauth-client-id": client_id,
        "--oauth-secret-env": secret_env,
    }
    if not any(given.values()) and scope is None and audience is None:
        return None
    missing = [option for option, value in given.items() if not value]
    if missing:
        raise UsageError(f"OAuth client credentials also need {', '.join(missing)}")
    assert secret_env is not None
    if not _ENV_NAME.fullmatch(secret_env):
        raise UsageError(
            f"--oauth-secret-env {secret_env!r}: name the environment variable that holds the "
            "client secret (e.g. DOCS_CLIENT_SECRET), not the secret"
        )
    return {
        "token_url": token_url,
        "client_id": client_id,
        "client_secret_env": secret_env,
        "scope": scope,
        "audience": audience,
    }
