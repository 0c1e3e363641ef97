"""Precision and recall of the compliance scanners on the labelled set in evals/compliance/.

PII and secrets (pii_secrets.jsonl): every row is a snippet with its expected findings (type and
character span; none for the look-alike negatives). A finding counts for its type as
- a true positive when it overlaps an expected span of the same type (each expected span is
  counted once, however many findings overlap it);
- a cross-type hit when it overlaps an expected span of another type (say `high_entropy_secret`
  on a labelled `aws_secret_key`): right that something is there, wrong about what; listed
  separately and left out of precision;
- a false positive otherwise (a look-alike fired, or a finding where nothing is labelled).
An expected span no finding of its type overlaps is a false negative. Figures for all rows and
per split: `tune` (the scanners were adjusted on these), `holdout` (written after the scanners
were tuned, but its misses were looked at while the scanners changed: optimistic) and
`holdout2` (new contexts written after that and never tuned on: the honest figure). Targets: precision >= 0.99 and recall >= 0.95 on the checksummed types (payment_card, iban,
us_ssn); the rest is reported as it is.

Injection (injection.jsonl): every row is an attack (with its category) or a benign prompt that
talks about instructions or security. A row is flagged when scan_injection reports a finding
with confidence >= FLAG_CONFIDENCE. Reported: precision, recall and the false-positive rate over
rows, per split (`tune`: the rows the rules were written against; `holdout`: rows written
afterwards and never tuned on; `holdout2`: a second such set, written later), and per attack
category the rows flagged (at all, with the category's own type, and in each holdout).

    python benchmarks/eval_compliance.py [--json out.json] [--misses] [--timing]

`--misses` lists the tune rows' misses only: looking at a holdout's misses and fixing them
would turn the holdout into tune rows (`--holdout-misses` shows them; then move those rows to
`tune` and write a fresh holdout, see evals/compliance/README.md).

`scan_pii` / `scan_secrets` (gateway/compliance/pii.py, secrets.py) are evaluated when they are
importable; without them only the injection part runs. `--timing` adds a tiny timing loop over a
2 kB prompt per scanner (p50 per scan, in-process): a figure, not a test.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from gateway.compliance.findings import Finding  # noqa: E402
from gateway.compliance.injection import FLAG_CONFIDENCE, scan_injection  # noqa: E402
from gateway.compliance.terms import TermList  # noqa: E402

EVALS = ROOT / "evals" / "compliance"
CHECKSUMMED = ("payment_card", "iban", "us_ssn")
TARGET_PRECISION, TARGET_RECALL = 0.99, 0.95
# A scanner's type name -> the label's, should the two spellings ever differ.
ALIASES: dict[str, str] = {}

Scan = Callable[[str], Sequence[Finding]]
SHOW_HOLDOUT_MISSES = False


def load(name: str) -> list[dict[str, Any]]:
    with (EVALS / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def optional_scanners() -> dict[str, Scan]:
    """P1's scanners when they exist (the eval runs without them)."""
    found: dict[str, Scan] = {}
    for module, function in (("pii", "scan_pii"), ("secrets", "scan_secrets")):
        try:
            mod = importlib.import_module(f"gateway.compliance.{module}")
        except ImportError as exc:
            print(f"  ({module}: not available: {exc})")
            continue
        found[module] = getattr(mod, function)
    return found


def listed(row: dict[str, Any]) -> bool:
    """A miss of this row may be printed (holdout rows only when asked)."""
    return SHOW_HOLDOUT_MISSES or not is_holdout(row.get("split", "tune"))


def is_holdout(split: str) -> bool:
    return split.startswith("holdout")


def splits_of(rows: list[dict[str, Any]]) -> list[str]:
    """The splits in the rows, in order: `tune`, then the holdouts by name."""
    return sorted({r.get("split", "tune") for r in rows}, key=lambda s: (s != "tune", s))


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def overlaps(f: Finding, span: dict[str, Any]) -> bool:
    return bool(f.start < span["end"] and span["start"] < f.end)


def eval_pii_secrets(
    rows: list[dict[str, Any]], scanners: dict[str, Scan], *, misses: bool
) -> dict[str, Any]:
    tp: dict[str, Counter[str]] = defaultdict(Counter)  # split -> type -> count
    fp: dict[str, Counter[str]] = defaultdict(Counter)
    fn: dict[str, Counter[str]] = defaultdict(Counter)
    cross: Counter[tuple[str, str]] = Counter()
    fired_on: dict[str, Counter[str]] = defaultdict(Counter)  # look-alike category -> types
    miss_lines: list[str] = []
    for row in rows:
        findings = [f for scan in scanners.values() for f in scan(row["text"])]
        expected = row["expected"]
        splits = ("all", row.get("split", "tune"))
        for span in expected:
            hit = any(
                ALIASES.get(f.type, f.type) == span["type"] and overlaps(f, span) for f in findings
            )
            for split in splits:
                (tp if hit else fn)[split][span["type"]] += 1
            if not hit and listed(row):
                miss_lines.append(f"  FN {span['type']:<22} {row['id']}: {row['text'][:110]!r}")
        for f in findings:
            ftype = ALIASES.get(f.type, f.type)
            over = [s for s in expected if overlaps(f, s)]
            if any(s["type"] == ftype for s in over):
                continue
            if over:
                cross[(ftype, over[0]["type"])] += 1
                continue
            for split in splits:
                fp[split][ftype] += 1
            fired_on[row["category"]][ftype] += 1
            if listed(row):
                miss_lines.append(
                    f"  FP {ftype:<22} {row['id']} ({row['category']}, rule {f.rule}): "
                    f"{row['text'][f.start : f.end][:80]!r}"
                )
    report: dict[str, Any] = {}
    for split in ("all", *splits_of(rows)):
        if split not in tp and split not in fn:
            continue
        print(f"\n[{split} rows]")
        report[split] = type_table(tp[split], fp[split], fn[split])
    if cross:
        print("\ncross-type hits (finding type on a span labelled as another type):")
        for (ftype, label), n in cross.most_common():
            print(f"  {ftype} on {label}: {n}")
    negatives = Counter(r["category"] for r in rows if r["kind"] == "negative")
    print("\nlook-alike negatives that fired (category: rows, findings by type):")
    for category, n in sorted(negatives.items()):
        fired = fired_on.get(category, Counter())
        detail = ", ".join(f"{t} {c}" for t, c in fired.most_common()) or "none"
        print(f"  {category:<24}{n:>4} rows: {detail}")
    print(
        f"\ntargets on checksummed types (precision >= {TARGET_PRECISION}, "
        f"recall >= {TARGET_RECALL}):"
    )
    verdicts: dict[str, dict[str, bool]] = {}
    for split, per_type in report.items():
        verdicts[split] = {}
        for t in CHECKSUMMED:
            stats = per_type.get(t)
            verdicts[split][t] = (
                bool(stats)
                and (stats["precision"] or 0) >= TARGET_PRECISION
                and (stats["recall"] or 0) >= TARGET_RECALL
            )
        print(
            f"  {split:<9}"
            + "  ".join(f"{t} {'PASS' if ok else 'FAIL'}" for t, ok in verdicts[split].items())
        )
    if misses:
        print("\nmisses (tune rows):")
        print("\n".join(miss_lines) or "  none")
    return {"per_type": report, "cross": {f"{a} on {b}": n for (a, b), n in cross.items()},
            "lookalikes_fired": {k: dict(v) for k, v in fired_on.items()}, "targets": verdicts}  # fmt: skip


def type_table(tp: Counter[str], fp: Counter[str], fn: Counter[str]) -> dict[str, dict[str, Any]]:
    """Print and return precision and recall per type (checksummed types starred)."""
    types = sorted(set(tp) | set(fp) | set(fn))
    print(f"{'type':<24}{'labelled':>9}{'TP':>6}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>9}")
    per_type: dict[str, dict[str, Any]] = {}
    for t in types:
        p, r = ratio(tp[t], tp[t] + fp[t]), ratio(tp[t], tp[t] + fn[t])
        per_type[t] = {"labelled": tp[t] + fn[t], "tp": tp[t], "fp": fp[t], "fn": fn[t],
                       "precision": p, "recall": r}  # fmt: skip
        mark = " *" if t in CHECKSUMMED else ""
        print(
            f"{t + mark:<24}{tp[t] + fn[t]:>9}{tp[t]:>6}{fp[t]:>6}{fn[t]:>6}{fmt(p):>11}{fmt(r):>9}"
        )
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print(
        f"{'ALL':<24}{all_tp + all_fn:>9}{all_tp:>6}{all_fp:>6}{all_fn:>6}"
        f"{fmt(ratio(all_tp, all_tp + all_fp)):>11}{fmt(ratio(all_tp, all_tp + all_fn)):>9}"
    )
    return per_type


def eval_injection(rows: list[dict[str, Any]], *, misses: bool) -> dict[str, Any]:
    confusion: dict[str, Counter[str]] = defaultdict(Counter)  # split -> tp/fp/fn/tn
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    miss_lines: list[str] = []
    for row in rows:
        findings = [f for f in scan_injection(row["text"]) if f.confidence >= FLAG_CONFIDENCE]
        flagged = bool(findings)
        attack = row["label"] == "attack"
        outcome = ("tp" if flagged else "fn") if attack else ("fp" if flagged else "tn")
        for split in ("all", row.get("split", "tune")):
            confusion[split][outcome] += 1
        category = row["category"]
        stats = by_category[category]
        stats["rows"] += 1
        stats["flagged"] += flagged
        stats["own_type"] += any(f.type == category for f in findings)
        stats[f"{row.get('split', 'tune')}_rows"] += 1
        stats[f"{row.get('split', 'tune')}_flagged"] += flagged
        if flagged != attack and listed(row):
            why = ", ".join(sorted({f.rule for f in findings})) or "no finding"
            miss_lines.append(
                f"  {outcome.upper()} {category:<18} {row['id']} [{row.get('split', 'tune')}] "
                f"({why}): {row['text'][:100]!r}"
            )
    print(f"\ninjection: flagged = a finding with confidence >= {FLAG_CONFIDENCE}")
    print(f"{'split':<10}{'attacks':>8}{'benign':>8}{'precision':>11}{'recall':>8}{'FP rate':>9}")
    summary: dict[str, dict[str, Any]] = {}
    for split in (*splits_of(rows), "all"):
        c = confusion.get(split)
        if not c:
            continue
        p, r = ratio(c["tp"], c["tp"] + c["fp"]), ratio(c["tp"], c["tp"] + c["fn"])
        fpr = ratio(c["fp"], c["fp"] + c["tn"])
        summary[split] = {**c, "precision": p, "recall": r, "false_positive_rate": fpr}
        print(
            f"{split:<10}{c['tp'] + c['fn']:>8}{c['fp'] + c['tn']:>8}{fmt(p):>11}{fmt(r):>8}"
            f"{fmt(fpr):>9}"
        )
    held_out = [split for split in splits_of(rows) if is_holdout(split)]
    print(
        f"\n{'category':<20}{'rows':>6}{'flagged':>9}{'share':>8}{'own type':>10}"
        + "".join(f"{split:>10}" for split in held_out)
    )
    for category, stats in sorted(by_category.items()):
        share = ratio(stats["flagged"], stats["rows"])
        own = "" if category == "benign" else str(stats["own_type"])
        held = "".join(
            f"{stats[split + '_flagged']}/{stats[split + '_rows']}".rjust(10) for split in held_out
        )
        print(
            f"{category:<20}{stats['rows']:>6}{stats['flagged']:>9}{fmt(share):>8}{own:>10}{held}"
        )
    if misses:
        print("\nmisses (tune rows):")
        print("\n".join(miss_lines) or "  none")
    return {"splits": summary, "categories": {k: dict(v) for k, v in by_category.items()}}


def timing(scanners: dict[str, Scan]) -> dict[str, float]:
    """p50 microseconds per scan of a ~2 kB prompt with a few findings in it.

    Baseline in the same run: one plain compiled regex pass (an email pattern) over the same
    text, the cheapest scan there is. `terms` is an organisation list of 200 terms.
    """
    sentence = (
        "Please review the attached quarterly report and summarise the key risks for the board. "
        "The customer can be reached at dana.lee@example.com or on +44 7700 900123 if needed. "
    )
    text = (sentence * 12)[:2048]
    plain = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
    org = TermList([f"Project Codename{i}" for i in range(190)] + ["Acme Corp"] * 10)
    every: dict[str, Scan] = {"injection": scan_injection, **scanners}
    result: dict[str, float] = {}
    print(f"\ntiming, {len(text)} characters, p50 of 25 rounds x 40 scans (in-process):")
    arms: list[tuple[str, Callable[[str], object]]] = [
        ("baseline (one plain regex pass)", lambda t: list(plain.finditer(t))),
        *every.items(),
        ("terms (200 terms)", org.scan),
        ("all scanners", lambda t: [f for s in every.values() for f in s(t)]),
    ]
    for name, scan in arms:
        samples = []
        for _ in range(25):
            start = time.perf_counter()
            for _ in range(40):
                scan(text)
            samples.append((time.perf_counter() - start) / 40 * 1e6)
        result[name] = statistics.median(samples)
        print(f"  {name:<34}{result[name]:>9.1f} us")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--misses", action="store_true", help="list the tune rows' false positives and negatives"
    )
    parser.add_argument(
        "--holdout-misses", action="store_true", help="list the holdout's misses too (see above)"
    )
    parser.add_argument("--timing", action="store_true", help="time each scanner on a 2 kB prompt")
    args = parser.parse_args(argv)
    global SHOW_HOLDOUT_MISSES  # noqa: PLW0603 - a print switch for this script run
    SHOW_HOLDOUT_MISSES = args.holdout_misses
    args.misses = args.misses or args.holdout_misses
    pii_rows, injection_rows = load("pii_secrets.jsonl"), load("injection.jsonl")
    kinds = Counter(r["kind"] for r in pii_rows)
    labels = Counter(r["label"] for r in injection_rows)
    print(f"evals/compliance: pii_secrets {kinds['positive']} positive + {kinds['negative']} negative "
          f"rows; injection {labels['attack']} attacks + {labels['benign']} benign")  # fmt: skip
    report: dict[str, Any] = {}
    scanners = optional_scanners()
    if scanners:
        print(f"\nPII and secrets, scanners: {', '.join(scanners)}")
        report["pii_secrets"] = eval_pii_secrets(pii_rows, scanners, misses=args.misses)
    report["injection"] = eval_injection(injection_rows, misses=args.misses)
    if args.timing:
        report["timing_us_p50"] = timing(scanners)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
