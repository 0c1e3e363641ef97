"""Which arms a run has and which key each sends: the one rule both front ends (`sfctl bench`
and `python -m loadtest`) follow, so that a gateway's virtual key never reaches a provider.

The direct arm sends its key to the provider (https://api.openai.com unless told otherwise), so
it takes only a key given for it: --direct-key, else OPENAI_API_KEY. It never falls back to the
gateway's key; without a key of its own it does not run, and the report says why. A Smartflow
virtual key (sk-sf-...) is refused as a direct key before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadtest.samples import Arm

__all__ = [
    "DIRECT",
    "DIRECT_KEY_ENV",
    "GATEWAY",
    "NO_DIRECT_KEY",
    "SMARTFLOW_ONLY",
    "ArmPlan",
    "RefusedKey",
    "is_virtual_key",
    "plan_arms",
]

GATEWAY = "smartflow"
DIRECT = "direct"
DIRECT_KEY_ENV = "OPENAI_API_KEY"
VIRTUAL_KEY_PREFIX = "sk-sf-"
SMARTFLOW_ONLY = "--smartflow-only"  # the reason the direct arm did not run, as the report says
NO_DIRECT_KEY = f"no key for it: give --direct-key or set {DIRECT_KEY_ENV}"


class RefusedKey(ValueError):
    """A key that must not be sent where it was asked to go; the message never holds the key."""


@dataclass(frozen=True)
class ArmPlan:
    arms: tuple[Arm, ...]
    not_run: dict[str, str]  # arm name -> why it does not run


def is_virtual_key(key: str) -> bool:
    """A Smartflow virtual key (`sk-sf-<random>`): only the gateway may ever see one."""
    return key.strip().lower().startswith(VIRTUAL_KEY_PREFIX)


def plan_arms(
    *, target: str, key: str, direct: str, direct_key: str | None, smartflow_only: bool
) -> ArmPlan:
    """The gateway arm with `key`; the direct arm with `direct_key` (the front end has already
    picked --direct-key over $OPENAI_API_KEY) when there is one, else the reason it does not run.
    Raises RefusedKey when the direct key is a virtual key."""
    gateway = Arm(GATEWAY, target, key)
    if smartflow_only:
        return ArmPlan((gateway,), {DIRECT: SMARTFLOW_ONLY})
    if not direct_key or not direct_key.strip():
        return ArmPlan((gateway,), {DIRECT: NO_DIRECT_KEY})
    if is_virtual_key(direct_key):
        raise RefusedKey(
            f"--direct-key/${DIRECT_KEY_ENV} is a Smartflow virtual key ({VIRTUAL_KEY_PREFIX}...)"
        )
    return ArmPlan((gateway, Arm(DIRECT, direct, direct_key)), {})
