"""Virtual keys: the record, its secret's format and hash, and the checks a request makes.

A key is `sk-sf-` followed by 43 url-safe characters (32 random bytes). Only its SHA-256 is
stored: with 256 bits of randomness no salt or slow hash is needed, and a hash-indexed lookup
stays O(1) on the hot path. Randomness and time are passed in (core does no I/O).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEY_PREFIX = "sk-sf-"
SECRET_BYTES = 32
DISPLAY_CHARS = 4  # of the random part, after the prefix, shown in listings

BudgetPeriod = Literal["total", "daily", "monthly"]
KeyStatus = Literal["active", "revoked"]


def new_secret(random_bytes: bytes) -> str:
    if len(random_bytes) < SECRET_BYTES:
        raise ValueError(f"a key needs at least {SECRET_BYTES} random bytes")
    return KEY_PREFIX + base64.urlsafe_b64encode(random_bytes).rstrip(b"=").decode()


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[: len(KEY_PREFIX) + DISPLAY_CHARS]


def is_virtual_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX) and len(value) >= len(KEY_PREFIX) + 43


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyBudget(_Model):
    max_usd: float = Field(ge=0, description="Spend cap in USD for each period")
    period: BudgetPeriod = "monthly"


class KeyLimits(_Model):
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute")
    rph: int | None = Field(default=None, ge=1, description="Requests per hour")
    tpm: int | None = Field(default=None, ge=1, description="Tokens (in + out) per minute")
    max_parallel: int | None = Field(default=None, ge=1, description="Requests in flight")


CacheMode = Literal["on", "exact", "off"]


class KeyCache(_Model):
    """How the response cache treats a key's requests. Defaults suit most keys."""

    mode: CacheMode = Field(
        default="on", description="on: every phase; exact: no semantic phase; off: no cache"
    )
    namespace: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Entries are shared only within a namespace; default: the team, else the key",
    )
    cache_tool_calls: bool = Field(
        default=False, description="Store and serve answers that call tools (read-only tools)"
    )
    any_temperature: bool = Field(
        default=False, description="Cache requests above the gateway's temperature bound"
    )


ToolName = Annotated[str, Field(min_length=1, max_length=200)]


class KeyTools(_Model):
    """Which MCP servers, MCP tools and A2A agents a key may reach. None: every one (the default,
    so keys made before tools existed keep working); an empty tuple: none."""

    mcp_servers: tuple[ToolName, ...] | None = Field(
        default=None, description="Allowed MCP server names; null: every server"
    )
    mcp_tools: tuple[ToolName, ...] | None = Field(
        default=None,
        description='Allowed tools as fnmatch patterns over "server__tool"; null: every tool',
    )
    a2a_agents: tuple[ToolName, ...] | None = Field(
        default=None, description="Allowed A2A agent names; null: every agent"
    )

    @field_validator("mcp_servers", "mcp_tools", "a2a_agents", mode="before")
    @classmethod
    def _list_is_tuple(cls, value: object) -> object:
        """The API validates strictly, where a JSON array arrives as a list, not a tuple."""
        return tuple(value) if isinstance(value, list) else value


class VirtualKey(_Model):
    """The stored record. `key_hash` never leaves the gateway (see `public()`)."""

    id: str
    key_hash: str
    key_prefix: str
    name: str
    owner: str | None = None
    team: str | None = None
    created_at: float
    updated_at: float
    expires_at: float | None = None
    status: KeyStatus = "active"
    models: tuple[str, ...] | None = None  # None: every model
    policy: str | None = None
    budget: KeyBudget | None = None
    limits: KeyLimits = Field(default_factory=KeyLimits)
    metadata: dict[str, str] = Field(default_factory=dict)
    log_prompts: bool = False
    cache: KeyCache = Field(default_factory=KeyCache)
    tools: KeyTools = Field(default_factory=KeyTools)

    def cache_namespace(self) -> str:
        """Where this key's answers are cached: its own namespace, its team's, else its own."""
        if self.cache.namespace is not None:
            return "ns:" + self.cache.namespace
        if self.team is not None:
            return "team:" + self.team
        return "key:" + self.id

    def refusal(self, now: float) -> str | None:
        """Why this key cannot be used now, or None."""
        if self.status == "revoked":
            return "this API key has been revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "this API key has expired"
        return None

    def allows_model(self, model: str) -> bool:
        return self.models is None or model in self.models

    def public(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude={"key_hash"})


class KeyCreate(_Model):
    """What an administrator sends to create a key."""

    name: str = Field(min_length=1, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    expires_at: float | None = Field(default=None, description="Unix time; null: never")
    models: list[str] | None = Field(default=None, description="Allowed models; null: all")
    policy: str | None = Field(default=None, max_length=200)
    budget: KeyBudget | None = None
    limits: KeyLimits = Field(default_factory=KeyLimits)
    metadata: dict[str, str] = Field(default_factory=dict)
    log_prompts: bool = False
    cache: KeyCache = Field(default_factory=KeyCache)
    tools: KeyTools = Field(default_factory=KeyTools)

    @field_validator("models")
    @classmethod
    def _models_named(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not m for m in value):
            raise ValueError("model names must be non-empty")
        return value


class KeyUpdate(_Model):
    """A partial update: only the fields sent change (send null to clear an optional field)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    owner: str | None = None
    team: str | None = None
    expires_at: float | None = None
    models: list[str] | None = None
    policy: str | None = None
    budget: KeyBudget | None = None
    limits: KeyLimits | None = None
    metadata: dict[str, str] | None = None
    log_prompts: bool | None = None
    cache: KeyCache | None = None
    tools: KeyTools | None = None


def build_key(
    request: KeyCreate, *, key_id: str, secret: str, now: float, default_rph: int | None
) -> VirtualKey:
    limits = request.limits
    if limits.rph is None and default_rph:
        limits = limits.model_copy(update={"rph": default_rph})
    return VirtualKey(
        id=key_id,
        key_hash=hash_secret(secret),
        key_prefix=display_prefix(secret),
        name=request.name,
        owner=request.owner,
        team=request.team,
        created_at=now,
        updated_at=now,
        expires_at=request.expires_at,
        models=tuple(request.models) if request.models is not None else None,
        policy=request.policy,
        budget=request.budget,
        limits=limits,
        metadata=request.metadata,
        log_prompts=request.log_prompts,
        cache=request.cache,
        tools=request.tools,
    )


def apply_update(key: VirtualKey, update: KeyUpdate, now: float) -> VirtualKey:
    changes = update.model_dump(exclude_unset=True)
    if "models" in changes and changes["models"] is not None:
        changes["models"] = tuple(changes["models"])
    if "limits" in changes and changes["limits"] is None:
        changes["limits"] = KeyLimits()
    if "cache" in changes and changes["cache"] is None:
        changes["cache"] = KeyCache()
    if "tools" in changes and changes["tools"] is None:
        changes["tools"] = KeyTools()
    changes["updated_at"] = now
    return VirtualKey.model_validate({**key.model_dump(), **changes})
