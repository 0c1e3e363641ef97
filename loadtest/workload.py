"""The seeded request sequence of one level: OpenAI chat bodies, identical for both arms.

`mixed`: half the requests (a seeded shuffle) carry one repeated anchor prompt, the rest are
unique. `miss`: every prompt is unique. A unique prompt starts with what makes it unique (a subject,
then an aspect, an audience and a form, drawn from word lists by a permuted index), so neither an
exact cache nor a semantic one (which compares meaning, often of the first tokens) can hit.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = [
    "ANCHOR_PROMPT",
    "Mode",
    "Request",
    "WorkloadSpec",
    "anchor",
    "build",
    "chat_body",
    "unique_prompt",
]

Mode = Literal["mixed", "miss"]

ANCHOR_PROMPT = "What is the capital of France? Answer in one short sentence."

_SUBJECTS = (
    "Photosynthesis in desert succulents", "The Roman Senate", "TCP congestion control",
    "Plate tectonics", "The French Revolution", "Quantum entanglement", "Sourdough fermentation",
    "Jazz improvisation", "Black hole evaporation", "Medieval castle design", "Vaccine trials",
    "The Silk Road", "Coral reef bleaching", "Compound interest", "Origami mathematics",
    "Glacier retreat", "Byzantine mosaics", "The printing press", "Monsoon forecasting",
    "Honeybee navigation", "Nuclear fusion reactors", "Baroque counterpoint",
    "Antibiotic resistance", "The Apollo guidance computer", "Volcanic soil farming",
    "Ottoman trade law", "Crystal growth",
    "Marathon training", "Urban heat islands", "Viking longships", "Supply chain bullwhip effects",
    "Octopus cognition", "Gothic cathedrals", "Public key cryptography", "Tidal energy",
    "Renaissance banking", "Migratory bird flyways", "Concrete curing", "Haiku composition",
    "The Krebs cycle", "Railway signalling", "Mangrove ecosystems", "Inflation targeting",
    "Stained glass making", "Mount Everest expeditions", "Garbage collection in runtimes",
    "The Mongol postal system", "Cheese cave aging", "Exoplanet transits", "Sign language grammar",
    "Wildfire ecology", "Bridge suspension cables", "Tea ceremony etiquette",
    "Solar sail propulsion", "The Hanseatic League", "Gut microbiome diversity",
    "Chess endgame theory", "Permafrost thaw",
    "Lighthouse optics", "Desalination plants", "Ancient Egyptian astronomy", "Beekeeping law",
    "Typeface design", "Earthquake early warning",
)  # fmt: skip
_ASPECTS = (
    "its history", "the underlying physics", "common misconceptions", "economic impact",
    "environmental consequences", "the key open questions", "how it is measured",
    "recent breakthroughs", "the main risks", "ethical concerns", "its role in daily life",
    "how experts disagree", "the simplest mental model", "failure cases", "regional differences",
    "the tools involved", "the vocabulary a beginner needs", "its future over the next decade",
    "a famous example", "how it compares with its closest alternative", "the math behind it",
    "what surprised researchers", "its cultural meaning", "the safety rules",
    "the cost structure", "how it evolved", "what limits it", "the best first experiment",
    "its effect on health", "how to teach it", "the legal side", "data that describe it",
)  # fmt: skip
_AUDIENCES = (
    "for a ten-year-old", "for a retired engineer", "for a busy executive", "for a nurse",
    "for a farmer", "for a first-year student", "for a novelist", "for a tourist", "for a lawyer",
    "for a carpenter", "for a sailor", "for a chef", "for a pilot", "for a librarian",
    "for a game designer", "for a city planner", "for a poet", "for a banker",
    "for a football coach", "for a museum guide", "for a software tester", "for a geologist",
    "for a journalist", "for a violin teacher",
)  # fmt: skip
_FORMS = (
    "as three bullet points", "in one paragraph", "as a short dialogue", "as a numbered list",
    "as an analogy", "as a haiku", "as a news headline and summary", "as a quiz question",
    "as a pros and cons table", "as a single sentence", "as a step-by-step guide",
    "as a short story", "as a tweet", "as a FAQ entry", "as a letter", "as a riddle",
    "as a glossary entry", "as a timeline", "as a debate opening", "as a recipe-style outline",
)  # fmt: skip
_SPACE = len(_SUBJECTS) * len(_ASPECTS) * len(_AUDIENCES) * len(_FORMS)


def _affine(seed: int) -> tuple[int, int]:
    rng = random.Random(seed)  # noqa: S311 (reproducible, not secret)
    step = rng.randrange(1, _SPACE)
    while math.gcd(step, _SPACE) != 1:
        step += 1
    return step, rng.randrange(_SPACE)


def _prompt_at(index: int, step: int, offset: int) -> str:
    k = (index * step + offset) % _SPACE
    k, s = divmod(k, len(_SUBJECTS))
    k, a = divmod(k, len(_ASPECTS))
    f, u = divmod(k, len(_AUDIENCES))
    return f"{_SUBJECTS[s]}: explain {_ASPECTS[a]} {_AUDIENCES[u]}, {_FORMS[f]}."


def unique_prompt(index: int, seed: int) -> str:
    """The prompt for `index`: distinct for every index below the space size (about a million).

    The index is permuted (an affine bijection of the space, its constants drawn from the seed)
    so that consecutive requests differ in every part, the subject first.
    """
    return _prompt_at(index, *_affine(seed))


@dataclass(frozen=True)
class WorkloadSpec:
    mode: Mode = "mixed"
    model: str = "gpt-4o-mini"
    max_tokens: int = 10
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Request:
    """One request: its serialised body (done before the run, off the hot path)."""

    body: bytes
    repeated: bool  # the anchor prompt (a cache hit is expected in mixed mode)


def chat_body(spec: WorkloadSpec, prompt: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": spec.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": spec.max_tokens,
        "temperature": 0,
    }
    if spec.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def build(spec: WorkloadSpec, n: int, seed: int, first_index: int = 0) -> list[Request]:
    """n requests; unique prompts take indices first_index, first_index+1, ... (give each level
    and the warm-up their own disjoint range so that no prompt repeats across a run)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    if first_index < 0 or first_index + n > _SPACE:
        raise ValueError(f"prompt indices must stay within 0..{_SPACE}")
    repeated = [False] * n
    if spec.mode == "mixed":
        shuffle = random.Random(seed ^ 0x5EED)  # noqa: S311 (reproducible, not secret)
        for i in shuffle.sample(range(n), n // 2):
            repeated[i] = True
    elif spec.mode != "miss":
        raise ValueError(f"unknown mode {spec.mode!r} (mixed or miss)")
    repeat = anchor(spec)
    step, offset = _affine(seed)
    out: list[Request] = []
    for i, rep in enumerate(repeated):
        if rep:
            out.append(repeat)
        else:
            prompt = _prompt_at(first_index + i, step, offset)
            out.append(Request(orjson.dumps(chat_body(spec, prompt)), False))
    return out


def anchor(spec: WorkloadSpec) -> Request:
    """The repeated prompt, sent once before measuring in mixed mode (the pre-warm)."""
    return Request(orjson.dumps(chat_body(spec, ANCHOR_PROMPT)), True)
