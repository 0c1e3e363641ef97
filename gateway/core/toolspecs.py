"""Registered MCP servers and A2A agents: the records the admin API stores and the gateway serves.

Pure pydantic (no I/O), like `keys.py`. Secrets are never part of a spec: authentication names
environment variables of the gateway process, read when the upstream is connected, so a spec can
be listed, exported and stored in the clear. Names become URL path segments (`/api/mcp/NAME`,
`/a2a/NAME`) and tool prefixes (`NAME__tool`), hence the narrow pattern: no `_`, so the `__`
separator stays unambiguous, and a few names are reserved for other `/api/mcp/*` routes.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"  # no "__", no "_"
RESERVED_NAMES = frozenset({"tools", "auth", "cache", "servers"})  # /api/mcp/<these> are routes

_NAME_RE = re.compile(NAME_PATTERN)
HEADER_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"  # an RFC 9110 token
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# a team or tool name: no control character, no space at either end
ITEM_PATTERN = r"^[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?$"
CARD_PATH_PATTERN = r"^/[^\x00-\x20\x7f]*$"
_HEADER_RE = re.compile(HEADER_PATTERN)
_CARD_PATH_RE = re.compile(CARD_PATH_PATTERN)
_ENV_RE = re.compile(ENV_PATTERN)
_ITEM_RE = re.compile(ITEM_PATTERN)
# no user:password@ in the authority: credentials belong in the environment, not in a spec
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f/?#@]+(?:[/?#][^\x00-\x20\x7f]*)?$"
_URL_RE = re.compile(URL_PATTERN)

# Patterns are written for both regex dialects alike (Python's `re` here, ECMA 262 where
# the OpenAPI document states them): explicit ASCII classes, never \s (whose sets differ).

# Strict numbers: `true` or "3" is refused rather than silently read as 1 or 3.
NonNegative = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]
Timestamp = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_name(value: str, *, reserved: bool = True) -> str:
    """The shared name rule; raises ValueError with a message an operator can act on."""
    if not _NAME_RE.fullmatch(value):
        raise ValueError(
            "must be 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter "
            "or digit"
        )
    if reserved and value in RESERVED_NAMES:
        raise ValueError(f"{value!r} is reserved (one of {', '.join(sorted(RESERVED_NAMES))})")
    return value


def _check_url(value: str) -> str:
    if not _URL_RE.fullmatch(value):
        raise ValueError("must be an http:// or https:// URL (no user:password@)")
    return value


def _check_names(values: tuple[str, ...] | None, what: str) -> tuple[str, ...] | None:
    if values is None:
        return None
    for value in values:
        if not _ITEM_RE.fullmatch(value):
            raise ValueError(f"each {what} must be a non-empty string without surrounding spaces")
    return values


def _matching(regex: re.Pattern[str], problem: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(problem)
        return value

    return AfterValidator(check)


# The field rules the specs share, each written once.
Url = Annotated[str, AfterValidator(_check_url)]
EnvName = Annotated[str, _matching(_ENV_RE, "must be an environment variable name")]
Teams = Annotated[tuple[str, ...] | None, AfterValidator(partial(_check_names, what="team"))]
ToolNames = Annotated[tuple[str, ...], AfterValidator(partial(_check_names, what="tool name"))]


class EnvHeader(_Model):
    """A header sent upstream whose value is read from the gateway's environment at connect."""

    header: Annotated[str, _matching(_HEADER_RE, "must be an HTTP header name")] = Field(
        description="HTTP header name, e.g. Authorization"
    )
    env: EnvName = Field(description="Environment variable holding the value")


class OAuthClientCredentials(_Model):
    """OAuth 2.0 client credentials grant; the secret is read from the environment."""

    token_url: Url
    client_id: str = Field(min_length=1)
    client_secret_env: EnvName
    scope: str | None = None
    audience: str | None = None


class UpstreamAuth(_Model):
    """How the gateway authenticates to an upstream: static headers, OAuth, or both."""

    headers: tuple[EnvHeader, ...] = ()
    oauth: OAuthClientCredentials | None = None

    def kind(self) -> str:
        """A short label for listings: none, headers, oauth or headers+oauth."""
        parts = (["headers"] if self.headers else []) + (["oauth"] if self.oauth else [])
        return "+".join(parts) or "none"

    def env_vars(self) -> tuple[str, ...]:
        """Every environment variable this auth reads (names only)."""
        names = [h.env for h in self.headers]
        if self.oauth is not None:
            names.append(self.oauth.client_secret_env)
        return tuple(names)


class McpServerSpec(_Model):
    """An upstream MCP server the gateway fronts at /api/mcp/NAME."""

    name: Annotated[str, AfterValidator(check_name)]
    transport: Literal["http", "stdio"] = "http"
    url: Url | None = None  # http: the Streamable HTTP endpoint
    command: tuple[str, ...] | None = None  # stdio: argv; only when SMARTFLOW_MCP_STDIO=true
    auth: UpstreamAuth = UpstreamAuth()
    teams: Teams = None  # None: keys of any team (or none) may use it
    cache_tools: ToolNames = ()  # cached although not annotated read-only/idempotent
    cache_ttl_s: NonNegative = 300.0
    price_per_call_usd: NonNegative = 0.0
    timeout_s: Positive = 30.0
    description: str | None = None
    created_at: Timestamp = 0.0
    updated_at: Timestamp = 0.0

    @model_validator(mode="after")
    def _transport(self) -> McpServerSpec:
        if self.transport == "http":
            if self.url is None:
                raise ValueError("url: an http server needs a url")
            if self.command is not None:
                raise ValueError("command: only a stdio server has a command")
        else:
            if not self.command or not all(self.command):
                raise ValueError("command: a stdio server needs a command (argv, no empty item)")
            if self.url is not None:
                raise ValueError("url: a stdio server has no url")
        return self


class A2aAgentSpec(_Model):
    """An upstream A2A agent the gateway fronts at /a2a/NAME."""

    name: Annotated[str, AfterValidator(partial(check_name, reserved=False))]
    url: Url  # the agent's base URL; its card at url + card_path
    card_path: Annotated[str, _matching(_CARD_PATH_RE, "must be a path starting with '/'")] = (
        "/.well-known/agent-card.json"
    )
    auth: UpstreamAuth = UpstreamAuth()
    teams: Teams = None
    price_per_task_usd: NonNegative = 0.0
    timeout_s: Positive = 300.0
    description: str | None = None
    created_at: Timestamp = 0.0
    updated_at: Timestamp = 0.0

    def card_url(self) -> str:
        """Where the upstream serves its agent card."""
        return self.url.rstrip("/") + self.card_path


SpecT = TypeVar("SpecT", McpServerSpec, A2aAgentSpec)


def specs_from_config(raw: object, model: type[SpecT], where: str) -> tuple[SpecT, ...]:
    """Validate a config file's `mcp_servers:` or `a2a_agents:` list (names unique). Raises
    ValueError naming the entry and field, e.g. `mcp_servers[1].url: must be an http:// ...`."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ValueError(f"{where}: must be a list")
    specs = []
    names: set[str] = set()
    for index, item in enumerate(raw):
        try:
            spec = model.model_validate(item)
        except ValidationError as exc:
            raise ValueError(f"{where}[{index}]{_located(exc)}") from None
        if spec.name in names:
            raise ValueError(f"{where}[{index}].name: a second entry named {spec.name!r}")
        names.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def first_problem(exc: ValidationError) -> tuple[str, str, ErrorDetails]:
    """The first problem: where (`auth.headers[0].env`, "" for the whole body), the message
    (pydantic's prefixes removed) and pydantic's details."""
    first = exc.errors(include_url=False)[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    return where, message, first


def _located(exc: ValidationError) -> str:
    """`.field: message` of the first problem."""
    where, message, _ = first_problem(exc)
    dot = "." if where and not where.startswith("[") else ""
    return f"{dot}{where}: {message}"
