"""The README's example policy is a real one: it compiles and decides as the README says."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.policy.compile import compile_policy
from gateway.policy.evaluate import evaluate, profile
from gateway.policy.model import FindingStat, KeyInfo, PolicyContext

README = Path(__file__).resolve().parents[3] / "README.md"


def _example() -> dict[str, object]:
    text = README.read_text(encoding="utf-8")
    start = text.index("name: pii-guard\nbound_to")
    document = yaml.safe_load(text[start : text.index("```", start)])
    assert isinstance(document, dict)
    return document


def test_the_readme_policy_compiles_and_decides_as_described() -> None:
    policy = compile_policy(_example())
    support = KeyInfo("k1", "support")
    ssn = {"us_ssn": FindingStat(1, 0.9)}
    card = {"payment_card": FindingStat(1, 0.99)}
    assert evaluate(policy, PolicyContext(key=support, findings=ssn, hour=12)).rule == (
        "block-secrets"
    )
    response = PolicyContext(key=support, findings=ssn, direction="response", hour=12)
    assert evaluate(policy, response).rule is None
    assert evaluate(policy, PolicyContext(key=support, findings=card, hour=12)).rule == (
        "mask-cards"
    )
    assert evaluate(policy, PolicyContext(key=support, tokens=40_000, hour=12)).rule == (
        "big-prompts"
    )
    fast = PolicyContext(key=support, metadata={"lane": "fast"}, hour=12)
    assert profile(policy, fast) == "reduced"
    other_team = PolicyContext(key=KeyInfo("k2", "sales"), findings=ssn, hour=12)
    assert evaluate(policy, other_team).bound is False
