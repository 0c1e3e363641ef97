"""Shadow mode's pure part: answer agreement, sampling, and the false-hit estimate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.cache_shadow import (
    ShadowStats,
    answer_of,
    answers_agree,
    should_sample,
    wilson_upper,
)
from gateway.core.translate import openai_response_to_anthropic

VPN_A = (
    "To reset your VPN token, open the self-service portal, choose Security, then Reset token. "
    "You will receive a new QR code to scan with the authenticator app. The old token stops "
    "working immediately, so update every device that uses it. If the portal is unavailable, "
    "call the IT help desk and they can reset it for you after verifying your identity."
)
VPN_B = (
    "You can reset the VPN token yourself: go to the self-service portal, open the Security "
    "section and pick Reset token. Scan the new QR code with your authenticator app. Note the "
    "previous token is revoked at once, so update all your devices. When the portal is down, the "
    "IT help desk can do the reset once they verify who you are."
)
REFUNDS = (
    "Our return policy allows refunds within 30 days of purchase when the item is unused and in "
    "its original packaging. Bring the receipt to any store or start the return online; refunds "
    "go back to the original payment method within five business days."
)
FEES_2 = (
    "International transfers cost a flat fee of 2 percent of the amount, with a minimum charge, "
    "and arrive within two to three business days depending on the receiving bank and country. "
    "You can follow the transfer status in the app under Payments."
)
FEES_5 = FEES_2.replace("2 percent", "5 percent").replace("two to three", "four to six")


def chat(text: str | None, calls: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(calls)
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }


@pytest.mark.parametrize(
    ("served", "fresh", "agree", "reason"),
    [
        (VPN_A, VPN_A, True, "same"),
        ("Yes, we are open on Sundays.", "yes, we are open on sundays", True, "same"),
        (VPN_A, VPN_B, True, "agree"),
        (
            "Yes, the clinic is open on Sundays from 9am to 1pm.",
            "Yes: on Sundays the clinic opens 9am to 1pm.",
            True,
            "agree",
        ),
        (
            "Yes, the clinic is open on Sundays.",
            "No, the clinic is closed on Sundays.",
            False,
            "guard:negation",
        ),
        (
            "Your order 48213 shipped yesterday.",
            "Your order 48231 shipped yesterday.",
            False,
            "guard:numbers",
        ),
        ("The store opens at 9am.", "The store opens at 10am.", False, "guard:dates"),
        ("Prices will increase in May.", "Prices will decrease in May.", False, "guard:polarity"),
        (VPN_A, REFUNDS, False, "overlap"),
        (FEES_2, FEES_5, False, "guard:numbers"),
        ("Yes.", VPN_A, False, "length"),
        (
            "Yes, you can.",
            "Sí, usted puede hacerlo desde la aplicación del banco.",
            False,
            "guard:language",
        ),
    ],
)
def test_answers_agree(served: str, fresh: str, agree: bool, reason: str) -> None:
    assert answers_agree(chat(served), chat(fresh)) == (agree, reason)


def test_tool_calls_compare_by_name_and_parsed_arguments() -> None:
    a = chat(None, [("find_branch", '{"city": "Lyon", "open_now": true}')])
    b = chat(None, [("find_branch", '{"open_now":true,"city":"Lyon"}')])
    c = chat(None, [("find_branch", '{"city": "Paris", "open_now": true}')])
    assert answers_agree(a, b) == (True, "same")
    assert answers_agree(a, c) == (False, "tool_calls")
    assert answers_agree(a, chat("Lyon has a branch.")) == (False, "tool_calls")


def test_all_three_shapes_and_wire_detection() -> None:
    legacy = {"object": "text_completion", "choices": [{"text": VPN_A, "index": 0}]}
    anthropic = openai_response_to_anthropic(chat(VPN_B), model="claude-x")
    assert answers_agree(legacy, chat(VPN_B)) == (True, "agree")
    assert answers_agree(chat(VPN_A), anthropic) == (True, "agree")
    assert answers_agree(anthropic, anthropic, "anthropic") == (True, "same")
    assert answer_of(anthropic, "anthropic") == answer_of(anthropic)


@pytest.mark.parametrize(
    "fresh",
    [
        {"error": {"message": "overloaded", "type": "api_error"}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "x"}},
        {"choices": []},
        chat(""),
        chat(None),
        {"type": "message", "content": []},
    ],
)
def test_a_fresh_response_without_an_answer_is_not_evidence(fresh: dict[str, Any]) -> None:
    assert answer_of(fresh) is None
    assert answers_agree(chat(VPN_A), fresh) == (False, "no_answer")


def test_should_sample() -> None:
    assert not should_sample(0.0, 0.0)
    assert should_sample(0.1, 0.05) and not should_sample(0.1, 0.1)
    assert should_sample(1.0, 0.999999)
    values = [i / 1000 for i in range(1000)]
    assert sum(should_sample(0.25, v) for v in values) == 250


def test_wilson_upper_bound_known_values() -> None:
    assert wilson_upper(0, 0) == 1.0
    assert wilson_upper(3, 200) == pytest.approx(0.04317, abs=1e-5)
    assert wilson_upper(0, 100) == pytest.approx(0.03699, abs=1e-5)
    assert wilson_upper(10, 10) == pytest.approx(1.0)


@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_wilson_upper_is_above_the_observed_rate(failures: int, extra: int) -> None:
    trials = failures + extra
    upper = wilson_upper(failures, trials)
    assert failures / trials <= upper <= 1.0
    assert wilson_upper(failures, trials * 4) <= wilson_upper(failures * 4, trials * 4) + 1e-12


def test_shadow_stats_count_estimate_merge_and_round_trip() -> None:
    stats = ShadowStats()
    assert stats.as_dict() == {
        "sampled": 0,
        "agreed": 0,
        "disagreed": 0,
        "skipped": 0,
        "false_hit_rate": None,
        "false_hit_upper_95": None,
        "reasons": {},
    }
    for _ in range(197):
        stats.record(True)
    stats.record(False, "overlap")
    stats.record(False, "guard:numbers")
    stats.record(False)
    stats.record(None)
    assert (stats.sampled, stats.compared) == (201, 200)
    assert stats.estimate == pytest.approx(0.015)
    assert stats.as_dict()["false_hit_upper_95"] == pytest.approx(0.043166, abs=1e-6)
    assert stats.as_dict()["reasons"] == {"overlap": 1, "guard:numbers": 1}
    again = ShadowStats.from_dict(stats.as_dict())
    assert again == stats
    both = stats.merged(again)
    assert (both.agreed, both.disagreed, both.skipped) == (394, 6, 2)
    assert both.reasons == {"overlap": 2, "guard:numbers": 2}
    assert stats.agreed == 197  # merging makes a new object
    assert ShadowStats.from_dict({"agreed": "x", "disagreed": -1}) == ShadowStats()


def responses_body(text: str, *calls: tuple[str, str]) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if text:
        part = {"type": "output_text", "text": text, "annotations": []}
        output.append({"type": "message", "role": "assistant", "content": [part]})
    for name, arguments in calls:
        output.append(
            {"type": "function_call", "call_id": "c", "name": name, "arguments": arguments}
        )
    return {"object": "response", "status": "completed", "output": output}


def test_responses_answers_are_compared_like_chat_ones() -> None:
    served = responses_body("Open Settings, then Security, and choose Reset password.")
    same = responses_body("Open Settings, then Security, and choose Reset password.")
    other = responses_body("You cannot reset it online; visit a branch.")
    call = responses_body("", ("lookup", '{"city": "Lyon"}'))
    same_call = responses_body("", ("lookup", '{ "city":"Lyon" }'))
    assert answers_agree(served, same) == (True, "same")
    assert answers_agree(served, other)[0] is False
    assert answers_agree(call, same_call)[0] is True
    assert answers_agree(served, call) == (False, "tool_calls")
    assert answer_of(responses_body("")) is None  # nothing said: no evidence either way
