"""The arm plan (which key each arm sends) and the arms' outcomes, as pure functions; the
front ends are run against loopback servers in tests/sfctl/test_sfctl_bench_keys.py and
tests/sfctl/test_sfctl_bench_failed.py."""

from __future__ import annotations

from typing import Any

import pytest

from loadtest.arms import NO_DIRECT_KEY, SMARTFLOW_ONLY, RefusedKey, plan_arms
from loadtest.outcome import Outcome, arm_outcomes, exit_code, report_outcomes

GATEWAY_KEY = "sk-sf-5e0a1b2c3d4e5f60"


def _plan(direct_key: str | None, smartflow_only: bool = False) -> Any:
    return plan_arms(
        target="http://127.0.0.1:7775",
        key=GATEWAY_KEY,
        direct="https://api.openai.com",
        direct_key=direct_key,
        smartflow_only=smartflow_only,
    )


@pytest.mark.parametrize("direct_key", [None, "", "  "])
def test_without_its_own_key_the_direct_arm_does_not_run(direct_key: str | None) -> None:
    plan = _plan(direct_key)
    assert [(a.name, a.api_key) for a in plan.arms] == [("smartflow", GATEWAY_KEY)]
    assert plan.not_run == {"direct": NO_DIRECT_KEY}


def test_the_direct_arm_sends_its_own_key_and_no_repr_shows_it() -> None:
    plan = _plan("sk-proj-abc")
    assert [(a.name, a.api_key) for a in plan.arms][1] == ("direct", "sk-proj-abc")
    assert "sk-proj-abc" not in repr(plan) and GATEWAY_KEY not in repr(plan)


@pytest.mark.parametrize("direct_key", [GATEWAY_KEY, "sk-sf-other", " SK-SF-Other\n"])
def test_a_virtual_key_is_refused_and_not_repeated(direct_key: str) -> None:
    with pytest.raises(RefusedKey) as caught:
        _plan(direct_key)
    assert direct_key.strip() not in str(caught.value) and "virtual key" in str(caught.value)


def test_smartflow_only_needs_no_direct_key() -> None:
    plan = _plan("sk-sf-other", smartflow_only=True)
    assert len(plan.arms) == 1 and plan.not_run == {"direct": SMARTFLOW_ONLY}


def _level(rps: float, **success: float) -> dict[str, Any]:
    arms = {
        name: {"n_scheduled": 10, "success_rate": rate, "errors": {"2xx": round(rate * 10)}}
        for name, rate in success.items()
    }
    for arm in arms.values():
        if arm["success_rate"] == 0:
            arm["errors"] = {"connect_error": 8, "timeout": 2}
    return {"target_rps": rps, "arms": arms}


def test_an_arm_that_measured_nothing_at_one_level_failed() -> None:
    levels = [_level(5, smartflow=1.0, direct=0.0), _level(10, smartflow=0.5, direct=0.0)]
    found = arm_outcomes(levels, {})
    assert found["smartflow"] == Outcome("ok")  # half its requests failed: a result, not a failure
    assert found["direct"] == Outcome(
        "failed", "no request succeeded at 5, 10 rps (connect_error=16 timeout=4)", (5.0, 10.0)
    )
    assert exit_code(found, []) == 3 and exit_code({"smartflow": Outcome("ok")}, ["x"]) == 1


def test_a_saved_report_keeps_why_an_arm_did_not_run_and_an_old_one_still_reads() -> None:
    levels = [_level(5, smartflow=1.0)]
    saved = {"levels": levels, "arms": {"direct": {"status": "not_run", "reason": "no key"}}}
    assert report_outcomes(saved)["direct"] == Outcome("not_run", "no key")
    assert report_outcomes({"levels": levels}) == {"smartflow": Outcome("ok")}
