"""Scope through the real gateway: an entry is served only within its namespace (the key's team,
else the key, or the namespace the key names), for the same model, the same answer-changing
parameters and the same wire format. Every test counts what reached the upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cache_e2e import (
    CLAUDE,
    MODEL,
    ScriptedUpstream,
    cache_gateway,
    chat,
    create_key,
    onnx_env,
    post_chat,
    scripted_config,
)

QUESTION = "What are the opening hours of the Lisbon branch?"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


async def test_keys_without_a_team_do_not_share(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        one = await create_key(gw, name="one")
        two = await create_key(gw, name="two")
        assert (await post_chat(gw, chat(QUESTION), secret=one["key"])).cache == "miss"
        assert (await post_chat(gw, chat(QUESTION), secret=two["key"])).cache == "miss"
        assert up.calls() == 2
        # each key's own entry is there for itself
        assert (await post_chat(gw, chat(QUESTION), secret=one["key"])).cache == "hit-exact"
        assert (await post_chat(gw, chat(QUESTION), secret=two["key"])).cache == "hit-exact"
        assert up.calls() == 2


async def test_keys_of_one_team_share_and_two_teams_do_not(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        search_a = await create_key(gw, name="a", team="search")
        search_b = await create_key(gw, name="b", team="search")
        billing = await create_key(gw, name="c", team="billing")
        first = await post_chat(gw, chat(QUESTION), secret=search_a["key"])
        assert first.cache == "miss"
        shared = await post_chat(gw, chat(QUESTION), secret=search_b["key"])
        assert shared.cache == "hit-exact"
        assert shared.body == first.body
        assert up.calls() == 1
        other_team = await post_chat(gw, chat(QUESTION), secret=billing["key"])
        assert other_team.cache == "miss"
        assert up.calls() == 2


async def test_a_key_with_its_own_namespace(tmp_path: Path) -> None:
    """A key naming a namespace leaves its team's entries, and shares with keys of any team that
    name the same namespace."""
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        teammate = await create_key(gw, name="plain", team="search")
        own = await create_key(gw, name="own", team="search", cache={"namespace": "faq-bot"})
        elsewhere = await create_key(gw, name="far", team="billing", cache={"namespace": "faq-bot"})
        assert (await post_chat(gw, chat(QUESTION), secret=teammate["key"])).cache == "miss"
        assert (await post_chat(gw, chat(QUESTION), secret=own["key"])).cache == "miss"
        assert up.calls() == 2
        assert (await post_chat(gw, chat(QUESTION), secret=elsewhere["key"])).cache == "hit-exact"
        assert up.calls() == 2
        names = {row[0] for row in gw.state.cache.local.namespaces().items()}
        assert names == {"team:search", "ns:faq-bot"}


async def test_two_models_do_not_share(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        assert (await post_chat(gw, chat(QUESTION, model=MODEL))).cache == "miss"
        assert (await post_chat(gw, chat(QUESTION, model="gpt-4o"))).cache == "miss"
        assert up.calls() == 2
        assert (await post_chat(gw, chat(QUESTION, model="gpt-4o"))).cache == "hit-exact"
        assert up.seen[-1].body["model"] == "gpt-4o"


def _variants() -> list[tuple[str, dict[str, Any]]]:
    base = chat(QUESTION)
    system = {
        **base,
        "messages": [{"role": "system", "content": "Answer in French."}, *base["messages"]],
    }
    return [
        ("temperature", {**base, "temperature": 0.2}),
        ("max_tokens", {**base, "max_tokens": 300}),
        ("tools", {**base, "tools": [WEATHER], "tool_choice": "none"}),
        ("system prompt", system),
        ("seed", {**base, "seed": 7}),
        ("stop", {**base, "stop": ["\n\n"]}),
        ("response_format", {**base, "response_format": {"type": "json_object"}}),
    ]


async def test_answer_changing_parameters_do_not_share(tmp_path: Path) -> None:
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        assert (await post_chat(gw, chat(QUESTION))).cache == "miss"
        for name, body in _variants():
            before = up.calls()
            reply = await post_chat(gw, body)
            assert (reply.status, reply.cache) == (200, "miss"), name
            assert up.calls() == before + 1, name
        # and each variant is its own entry
        for name, body in _variants():
            assert (await post_chat(gw, body)).cache == "hit-exact", name
        assert up.calls() == 1 + len(_variants())


async def test_openai_and_anthropic_wire_do_not_share(tmp_path: Path) -> None:
    """The same question to the same model on both wires: different answers' shapes, so two
    entries."""
    async with ScriptedUpstream() as up, cache_gateway(tmp_path, scripted_config(up)) as gw:
        messages = [{"role": "user", "content": QUESTION}]
        native = {"model": CLAUDE, "max_tokens": 200, "messages": messages}
        assert (await post_chat(gw, native, path="/anthropic/v1/messages")).cache == "miss"
        over_openai = await post_chat(
            gw, {"model": CLAUDE, "max_tokens": 200, "messages": messages}
        )
        assert (over_openai.status, over_openai.cache) == (200, "miss")
        assert over_openai.body["object"] == "chat.completion"
        assert up.calls("/messages") == 2
        again = await post_chat(gw, native, path="/anthropic/v1/messages")
        assert again.cache == "hit-exact"
        assert again.body["type"] == "message"
        again_openai = await post_chat(
            gw, {"model": CLAUDE, "max_tokens": 200, "messages": messages}
        )
        assert again_openai.cache == "hit-exact"
        assert again_openai.body["object"] == "chat.completion"
        assert up.calls() == 2


async def test_semantic_phase_respects_the_namespace(
    tmp_path: Path, embedding_models: Path
) -> None:
    """A paraphrase the semantic phase serves within a team is a miss for another team."""
    asked = "How do I reset my online banking password?"
    paraphrase = "How can I reset my online banking password?"
    async with (
        ScriptedUpstream() as up,
        cache_gateway(tmp_path, scripted_config(up), onnx_env(embedding_models)) as gw,
    ):
        retail_a = await create_key(gw, name="a", team="retail")
        retail_b = await create_key(gw, name="b", team="retail")
        private = await create_key(gw, name="p", team="private-banking")
        loner = await create_key(gw, name="loner")
        assert (await post_chat(gw, chat(asked), secret=retail_a["key"])).cache == "miss"
        assert (await post_chat(gw, chat(paraphrase), secret=private["key"])).cache == "miss"
        assert (await post_chat(gw, chat(paraphrase), secret=loner["key"])).cache == "miss"
        assert up.calls() == 3
        hit = await post_chat(gw, chat(paraphrase), secret=retail_b["key"])
        assert hit.cache == "hit-semantic"
        assert up.calls() == 3


async def test_semantic_phase_respects_model_wire_and_parameters(
    tmp_path: Path, embedding_models: Path
) -> None:
    """A near repeat is served only for the same model, wire and answer-changing parameters."""
    asked = "How do I reset my online banking password?"
    paraphrase = "How can I reset my online banking password?"
    async with (
        ScriptedUpstream() as up,
        cache_gateway(tmp_path, scripted_config(up), onnx_env(embedding_models)) as gw,
    ):
        base = {"model": CLAUDE, "max_tokens": 200}
        assert (await post_chat(gw, {**base, **chat(asked, model=CLAUDE)})).cache == "miss"
        misses: list[tuple[str, dict[str, Any], str]] = [
            ("model", {**base, **chat(paraphrase, model="gpt-4o")}, "/v1/chat/completions"),
            ("wire", {**base, **chat(paraphrase, model=CLAUDE)}, "/anthropic/v1/messages"),
            (
                "temperature",
                {**base, **chat(paraphrase, model=CLAUDE), "temperature": 0.1},
                "/v1/chat/completions",
            ),
            (
                "max_tokens",
                {**chat(paraphrase, model=CLAUDE), "max_tokens": 99},
                "/v1/chat/completions",
            ),
        ]
        for name, body, path in misses:
            reply = await post_chat(gw, body, path=path)
            assert (reply.status, reply.cache) == (200, "miss"), name
        assert up.calls() == 1 + len(misses)
        hit = await post_chat(gw, {**base, **chat(paraphrase, model=CLAUDE)})
        assert hit.cache == "hit-semantic"
        assert up.calls() == 1 + len(misses)
