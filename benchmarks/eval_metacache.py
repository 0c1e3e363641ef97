"""How often the semantic cache serves what it should, and how often it serves a trap, per
embedder and per category, on the labelled pairs of evals/metacache/ (see its README).

Each pair is a cached request and a query request (OpenAI chat bodies). Both go through
`split_conversation` and `semantic_match` exactly as the gateway runs them: the last user turn
and the context ("\\n".join(context_turns)) are embedded by the embedder under test (helper
A's ONNX all-MiniLM-L6-v2 and the static table distilled from it, from the built model dir),
the guard reads the texts. A pair is served when the match says "hit".

Reported per split (`tune`, what the thresholds are chosen on; `report`, held out): the share
of should-hit pairs served and the share of traps served, per category, at the default question
threshold (settings' 0.90) and at the threshold tuned per embedder: the lowest of 0.80..0.95
(step 0.01) whose TUNE-half trap shares meet the targets (questions <= 1%, conversations <= 3%).
Then the report-half shares at every threshold of that range, and one SUMMARY line per embedder.
Targets on the report half: questions >= 60% served with <= 1% traps; conversations >= 50%
served with <= 3% traps.

    python benchmarks/eval_metacache.py [--model-dir DIR] [--embedders onnx,static]
        [--threshold 0.90] [--context-threshold 0.80] [--json out.json] [--misses]

The model dir defaults to SMARTFLOW_MODEL_DIR (else <data dir>/models); build it with
`smartflow-gateway build-models`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from gateway.cache import metacache  # noqa: E402
from gateway.cache.embed_onnx import OnnxEmbedder  # noqa: E402
from gateway.cache.embed_static import StaticEmbedder  # noqa: E402
from gateway.cache.embedder import Vectors, model_dir  # noqa: E402
from gateway.core.cache_guard import analyze  # noqa: E402
from gateway.core.cache_key import ConversationSplit, split_conversation  # noqa: E402
from gateway.core.semantic_match import (  # noqa: E402
    DEFAULT_CONTEXT_THRESHOLD,
    SemanticSide,
    semantic_match,
)

EVALS = ROOT / "evals" / "metacache"
DATASETS = {"questions": "questions.jsonl", "conversations": "conversations.jsonl"}
TARGETS = {"questions": (0.60, 0.01), "conversations": (0.50, 0.03)}  # served >=, traps <=
SWEEP = [round(0.80 + 0.01 * i, 2) for i in range(16)]
PARTS = ("tune", "report")


@dataclass(frozen=True, slots=True)
class Side:
    split: ConversationSplit
    features: SemanticSide
    context_text: str | None


@dataclass(frozen=True, slots=True)
class Pair:
    id: str
    dataset: str
    category: str
    label: str  # should_hit | trap
    part: str  # tune | report
    cached: Side
    query: Side


def side(messages: list[dict[str, Any]]) -> Side:
    """One request as the gateway reads it (the model and namespace are the same for both)."""
    split = split_conversation(
        {"model": "eval-model", "messages": messages}, wire="openai", namespace="eval"
    )
    context_text = metacache.context_text(split) if split.context_turns else None
    features = SemanticSide(
        question=analyze(split.last_turn_text),
        context_key=split.context_key,
        recent_key=split.recent_key,
        context=analyze(context_text) if context_text is not None else None,
        needs_context=split.needs_context,
    )
    return Side(split, features, context_text)


def load_pairs(directory: Path) -> list[Pair]:
    pairs = []
    for dataset, name in DATASETS.items():
        for line in (directory / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            cached, query = row["cached"], row["query"]
            if isinstance(cached, str):  # a question pair: one user turn each
                cached = [{"role": "user", "content": cached}]
                query = [{"role": "user", "content": query}]
            pairs.append(
                Pair(
                    row["id"],
                    dataset,
                    row["category"],
                    row["label"],
                    row["split"],
                    side(cached),
                    side(query),
                )
            )
    return pairs


class Scores:
    """Every text embedded once; cosines looked up by text (rows are L2-normalised)."""

    def __init__(
        self, embed: Any, texts: Iterable[str], *, contextual: bool, batch: int = 64
    ) -> None:
        self.contextual = contextual  # the gateway compares contexts by embedding only then
        unique = sorted(set(texts))
        rows: list[Vectors] = [embed(unique[i : i + batch]) for i in range(0, len(unique), batch)]
        self._index = {text: i for i, text in enumerate(unique)}
        self._vectors = np.concatenate(rows) if rows else np.zeros((0, 1), np.float32)

    def cosine(self, a: str, b: str) -> float:
        return float(self._vectors[self._index[a]] @ self._vectors[self._index[b]])


def texts_of(pairs: Sequence[Pair]) -> Iterable[str]:
    for pair in pairs:
        for one in (pair.cached, pair.query):
            yield one.split.last_turn_text
            if one.context_text is not None:
                yield one.context_text


def decide(
    pair: Pair, scores: Scores, threshold: float, context_threshold: float
) -> tuple[bool, str]:
    """What the gateway would do with this query and this one candidate."""
    q, c = pair.query, pair.cached
    if q.split.scope_key != c.split.scope_key or not q.split.semantic_ok:
        return False, "scope"
    if len(q.split.last_turn_text) > metacache.MAX_SEMANTIC_CHARS:
        return False, "too_long"  # the gateway answers long questions from exact phases only
    both = q.context_text is not None and c.context_text is not None and scores.contextual
    verdict = semantic_match(
        q.features,
        c.features,
        question_score=scores.cosine(q.split.last_turn_text, c.split.last_turn_text),
        context_score=scores.cosine(q.context_text, c.context_text) if both else None,  # type: ignore[arg-type]
        threshold=threshold,
        context_threshold=context_threshold,
    )
    return verdict.ok, verdict.reason


Table = dict[tuple[str, str, str], list[int]]  # (dataset, part, category) -> [served, total]


def tally(
    pairs: Sequence[Pair], scores: Scores, threshold: float, context_threshold: float
) -> tuple[Table, list[tuple[Pair, str]]]:
    table: Table = defaultdict(lambda: [0, 0])
    wrong = []
    for pair in pairs:
        served, reason = decide(pair, scores, threshold, context_threshold)
        cell = table[(pair.dataset, pair.part, pair.category)]
        cell[0] += served
        cell[1] += 1
        if served != (pair.label == "should_hit"):
            wrong.append((pair, reason))
    return table, wrong


def totals(table: Table, pairs: Sequence[Pair], dataset: str, part: str) -> dict[str, float]:
    labels = {(p.dataset, p.category): p.label for p in pairs}
    out = {}
    for label in ("should_hit", "trap"):
        cells = [
            v for (d, s, cat), v in table.items() if d == dataset and s == part
            and labels[(d, cat)] == label
        ]  # fmt: skip
        served, total = sum(v[0] for v in cells), sum(v[1] for v in cells)
        out[label] = served / total if total else 0.0
    return out


def categories(pairs: Sequence[Pair], dataset: str) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for pair in pairs:
        if pair.dataset == dataset:
            seen.setdefault(pair.category, pair.label)
    return sorted(seen.items(), key=lambda item: (item[1] != "should_hit", item[0]))


def tune_threshold(pairs: Sequence[Pair], scores: Scores, context_threshold: float) -> float | None:
    """The lowest question threshold of `SWEEP` whose trap shares on the TUNE half stay within
    the targets (questions <= 1%, conversations <= 3%); None when none does."""
    for threshold in SWEEP:
        table, _ = tally(pairs, scores, threshold, context_threshold)
        shares = {dataset: totals(table, pairs, dataset, "tune") for dataset in DATASETS}
        if all(shares[d]["trap"] <= TARGETS[d][1] for d in DATASETS):
            return threshold
    return None


def figures(
    pairs: Sequence[Pair], scores: Scores, threshold: float, context_threshold: float
) -> tuple[dict[str, Any], list[tuple[Pair, str]]]:
    """Per dataset: per category and per half, the share served; the totals; targets met."""
    table, wrong = tally(pairs, scores, threshold, context_threshold)
    out: dict[str, Any] = {"threshold": threshold, "datasets": {}}
    for dataset in DATASETS:
        cats = {}
        for category, label in categories(pairs, dataset):
            cells = {part: table[(dataset, part, category)] for part in PARTS}
            cats[category] = {"label": label} | {
                part: {"served": v[0], "total": v[1], "share": v[0] / v[1]}
                for part, v in cells.items()
            }
        summary = {part: totals(table, pairs, dataset, part) for part in PARTS}
        hit_goal, trap_goal = TARGETS[dataset]
        report = summary["report"]
        met = report["should_hit"] >= hit_goal and report["trap"] <= trap_goal
        out["datasets"][dataset] = {"categories": cats, "summary": summary, "target_met": met}
    return out, wrong


def print_figures(title: str, result: dict[str, Any]) -> None:
    print(f"-- {title}: question threshold {result['threshold']:.2f}")
    for dataset, data in result["datasets"].items():
        print(f"{dataset:<20} {'label':<10} {'tune':>13} {'report':>13}")
        for category, cells in data["categories"].items():
            shown = "  ".join(
                f"{cells[p]['served']:>3}/{cells[p]['total']:<3} {cells[p]['share']:4.0%}"
                for p in PARTS
            )
            print(f"  {category:<18} {cells['label']:<10} {shown}")
        for part, shares in data["summary"].items():
            print(
                f"  {'ALL ' + part:<29} served {shares['should_hit']:5.1%}  "
                f"traps served {shares['trap']:5.1%}"
            )
        hit_goal, trap_goal = TARGETS[dataset]
        print(f"  target (report): >= {hit_goal:.0%} served, <= {trap_goal:.0%} traps: "
              f"{'met' if data['target_met'] else 'NOT met'}")  # fmt: skip


def headline(result: dict[str, Any]) -> str:
    """ "questions 47.4%/0.0% met, conversations 80.8%/0.0% met" (report half)."""
    return ", ".join(
        f"{dataset} {data['summary']['report']['should_hit']:.1%}/"
        f"{data['summary']['report']['trap']:.1%} {'met' if data['target_met'] else 'NOT met'}"
        for dataset, data in result["datasets"].items()
    )


def report_embedder(
    name: str, pairs: Sequence[Pair], scores: Scores, args: argparse.Namespace
) -> dict[str, Any]:
    print(f"\n== {name}  context threshold {args.context_threshold:.2f}")
    default, wrong = figures(pairs, scores, args.threshold, args.context_threshold)
    print_figures("default", default)
    tuned_at = tune_threshold(pairs, scores, args.context_threshold)
    tuned = None
    if tuned_at is not None:
        tuned, wrong = figures(pairs, scores, tuned_at, args.context_threshold)
        print_figures("tuned on the tune half", tuned)
    sweep: dict[str, list[dict[str, float]]] = {dataset: [] for dataset in DATASETS}
    for threshold in SWEEP:
        swept, _ = tally(pairs, scores, threshold, args.context_threshold)
        for dataset in DATASETS:
            shares = {part: totals(swept, pairs, dataset, part) for part in PARTS}
            sweep[dataset].append({"threshold": threshold} | shares)
    for dataset, rows in sweep.items():
        print(f"  sweep {dataset} (report): " + "  ".join(
            f"{s['threshold']:.2f}:{s['report']['should_hit']:.0%}/{s['report']['trap']:.1%}"
            for s in rows
        ))  # fmt: skip
    if args.misses:
        print(f"  wrong decisions at {tuned_at if tuned else args.threshold:.2f}:")
        for pair, reason in wrong:
            kind = "TRAP SERVED" if pair.label == "trap" else "missed"
            texts = (pair.cached.split.last_turn_text, pair.query.split.last_turn_text)
            print(f"  {kind:<11} {pair.id:<26} {reason:<22} {texts[0]!r} / {texts[1]!r}")
    summary = f"SUMMARY {name}: default {args.threshold:.2f}: {headline(default)}; "
    if tuned is None:
        summary += "tuned: no threshold in 0.80..0.95 keeps the tune half's traps within target"
    else:
        summary += f"tuned {tuned_at:.2f}: {headline(tuned)}"
    print(summary)
    return {
        "embedder": name,
        "context_threshold": args.context_threshold,
        "default": default,
        "tuned": tuned,
        "tuning": {
            "chosen_on": "tune",
            "range": [SWEEP[0], SWEEP[-1]],
            "rule": "lowest question threshold with tune-half trap shares <= targets",
            "trap_targets": {dataset: TARGETS[dataset][1] for dataset in DATASETS},
        },
        "sweep": sweep,
        "wrong": [{"id": p.id, "reason": r} for p, r in wrong],
        "summary": summary,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model-dir", type=Path, help="built models (build-models --dir)")
    parser.add_argument("--embedders", default="onnx,static")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="the default to report beside the tuned one (settings' 0.90)",
    )
    parser.add_argument("--context-threshold", type=float, default=DEFAULT_CONTEXT_THRESHOLD)
    parser.add_argument("--evals", type=Path, default=EVALS)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--misses", action="store_true", help="list every wrong decision (tuned threshold)"
    )
    args = parser.parse_args(argv)
    from gateway.settings import load_settings

    settings = load_settings()
    if args.threshold is None:
        args.threshold = settings.semantic_cache_threshold
    directory = args.model_dir or model_dir(settings)
    pairs = load_pairs(args.evals)
    results = []
    for kind in args.embedders.split(","):
        if kind == "onnx":
            embedder: OnnxEmbedder | StaticEmbedder = OnnxEmbedder.load(directory / "onnx")
        elif kind == "static":
            embedder = StaticEmbedder.load(directory / "static")
        else:
            print(f"unknown embedder {kind!r} (onnx, static)", file=sys.stderr)
            return 2
        scores = Scores(embedder.embed_sync, texts_of(pairs), contextual=embedder.contextual)
        results.append(report_embedder(embedder.name, pairs, scores, args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
