"""The semantic match rule: question score, the guard on the questions, agreeing contexts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.core.cache_guard import analyze
from gateway.core.cache_key import split_conversation
from gateway.core.semantic_match import (
    DEFAULT_CONTEXT_THRESHOLD,
    MatchVerdict,
    SemanticSide,
    contexts_agree,
    is_chatter,
    is_substitution,
    semantic_match,
)

EVALS = Path(__file__).resolve().parents[3] / "evals" / "metacache"


def side(*turns: str) -> SemanticSide:
    """A conversation of alternating user / assistant turns, the last one the user's."""
    roles = ["user", "assistant"] * len(turns)
    messages = [{"role": role, "content": text} for role, text in zip(roles, turns, strict=False)]
    split = split_conversation(
        {"model": "m", "messages": messages}, wire="openai", namespace="test"
    )
    context = "\n".join(split.context_turns) if split.context_turns else None
    return SemanticSide(
        question=analyze(split.last_turn_text),
        context_key=split.context_key,
        recent_key=split.recent_key,
        context=analyze(context) if context is not None else None,
        needs_context=split.needs_context,
    )


def match(query: SemanticSide, cached: SemanticSide, **scores: Any) -> MatchVerdict:
    scores.setdefault("question_score", 0.97)
    scores.setdefault("context_score", None)
    return semantic_match(query, cached, threshold=0.90, **scores)


def test_a_paraphrase_without_context_is_a_hit() -> None:
    verdict = match(side("How do I reset my VPN password?"), side("how do i reset my vpn password"))
    assert verdict == MatchVerdict(True, "hit")


def test_the_question_score_comes_first() -> None:
    same = side("How do I reset my VPN password?")
    assert match(same, same, question_score=0.89) == MatchVerdict(False, "question_score")
    assert match(same, same, question_score=0.90).ok


@pytest.mark.parametrize(
    ("query", "cached", "check"),
    [
        ("Is the clinic open on Sundays?", "Is the clinic closed on Sundays?", "polarity"),
        ("What's the status of order 4471982?", "What's the status of order 4471928?", "numbers"),
        ("Why didn't my transfer go through?", "Why did my transfer go through?", "negation"),
        ("How do I reset a user's password?", "How do I reset my password?", "scope"),
        ("¿Cómo me conecto a la VPN?", "How do I connect to the VPN?", "language"),
    ],
)
def test_the_guard_refuses_what_the_score_would_serve(query: str, cached: str, check: str) -> None:
    verdict = match(side(query), side(cached), question_score=0.99)
    assert verdict == MatchVerdict(False, "guard:" + check)


def test_the_same_context_is_a_hit_even_when_the_question_leans_on_it() -> None:
    context = ("My order hasn't shipped yet.", "Would you like me to cancel it?")
    query, cached = side(*context, "Yes, please cancel it."), side(*context, "yes please cancel it")
    assert query.needs_context
    assert match(query, cached, context_score=1.0).ok


def test_chatter_on_either_side_is_ignored() -> None:
    bare = side("How do I book a meeting room?")
    greeted = side("Hi, hope your day is going well.", "It is, thanks! What do you need?",
                   "How do I book a meeting room?")  # fmt: skip
    other = side("Morning!", "Good morning! How can I help?", "How do I book a meeting room?")
    assert is_chatter(greeted.context) and is_chatter(other.context) and is_chatter(None)
    assert match(greeted, bare).ok
    assert match(bare, greeted).ok
    assert match(greeted, other, context_score=0.55).ok


def test_a_context_on_one_side_only_refuses() -> None:
    bare = side("How many users can we add?")
    told = side("We're on the Basic plan.", "Thanks for confirming.", "How many users can we add?")
    assert not is_chatter(told.context)
    assert match(told, bare) == MatchVerdict(False, "context_missing")
    assert match(bare, told) == MatchVerdict(False, "context_missing")


def test_a_reworded_context_is_a_hit() -> None:
    cached = side("I bought a coffee machine from your website last week.",
                  "Thanks for letting me know. How can I help with your coffee machine order?",
                  "How do I return it?")  # fmt: skip
    query = side("Last week I ordered a coffee machine on your site.",
                 "Thanks! What can I help you with regarding the coffee machine?",
                 "How do I return it?")  # fmt: skip
    assert match(query, cached, context_score=0.86).ok
    low = match(query, cached, context_score=DEFAULT_CONTEXT_THRESHOLD - 0.01)
    assert low == MatchVerdict(False, "context_score")


@pytest.mark.parametrize(
    ("query_context", "cached_context", "reason"),
    [
        ("I want to transfer 20,000 euros abroad.", "I want to transfer 2,000 euros abroad.",
         "context_guard:numbers"),
        ("I want to downgrade my plan.", "I want to upgrade my plan.", "context_guard:polarity"),
        ("Our workspace is hosted in the US region.", "Our workspace is hosted in the EU region.",
         "context_detail"),
        ("I paid by bank transfer.", "I paid by credit card.", "context_detail"),
    ],
)  # fmt: skip
def test_a_context_with_a_swapped_detail_refuses(
    query_context: str, cached_context: str, reason: str
) -> None:
    query = side(query_context, "Thanks, noted.", "How long will it take?")
    cached = side(cached_context, "Thanks, noted.", "How long will it take?")
    assert match(query, cached, context_score=0.97) == MatchVerdict(False, reason)


def test_substitution_counts_content_words_only() -> None:
    a, b = analyze("i'm flying economy on the flight"), analyze("i'm flying business on a flight")
    assert is_substitution(a, b)
    assert not is_substitution(a, a)
    reworded = analyze("last week i ordered a coffee machine on your site. thanks! what can i help")
    original = analyze("i bought a coffee machine from your website last week. how can i help")
    assert not is_substitution(reworded, original)


def test_contexts_agree_alone() -> None:
    cached = side("I have a flight to Madrid on 12 May.", "I see it.", "Can I change it?")
    query = side("I have a flight to Madrid on 12 June.", "I see it.", "Can I change it?")
    verdict = contexts_agree(query, cached, context_score=0.98, context_threshold=0.8)
    assert not verdict.ok  # case-folded, "12 may" reads as a number: "numbers" or "dates"
    assert verdict.reason.startswith("context_guard:")
    assert contexts_agree(cached, cached, context_score=None, context_threshold=0.8).ok


def test_the_eval_set_is_well_formed() -> None:
    """The committed evaluation set: sizes, labels, categories balanced across the halves."""
    expected = {
        "questions.jsonl": (600, {"paraphrase", "near_repeat"}, 8),
        "conversations.jsonl": (200, {"context_reworded", "irrelevant_chatter", "extra_chatter"}, 6),
    }  # fmt: skip
    for name, (at_least, hits, n_categories) in expected.items():
        rows = [json.loads(line) for line in (EVALS / name).read_text().splitlines()]
        assert len(rows) >= at_least
        assert len({row["id"] for row in rows}) == len(rows)
        categories = {row["category"] for row in rows}
        assert len(categories) == n_categories
        for row in rows:
            assert row["label"] == ("should_hit" if row["category"] in hits else "trap")
            assert row["cached"] != row["query"]
        for category in categories:
            halves = [sum(r["category"] == category and r["split"] == s for r in rows)
                      for s in ("tune", "report")]  # fmt: skip
            assert abs(halves[0] - halves[1]) <= 1
