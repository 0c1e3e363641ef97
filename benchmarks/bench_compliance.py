"""What the compliance scanners cost per prompt and per kB, against one plain regex pass.

Prompts of 0.5, 2, 8 and 32 kB are built from benign support and engineering text (tickets,
log lines, config snippets, code review notes; words like "previous", "rules", "system" and
"ignore" included, since real prompts have them and they open the injection rules' gates) with
a few PII values and secrets sprinkled in: about one every 700 characters (an email, a phone
number, a card, an IBAN, an SSN, an IP address, an AWS key, a GitHub token, a connection
string). Each size has several different prompts, so no arm keeps scanning one string.

Arms, per size:
- baseline: one plain regex pass over the same text (`[\\w.+-]+@[\\w-]+\\.[\\w.-]+`, finditer
  into a list), the cheapest scan anyone would write: the yardstick for the rest;
- pii, secrets, injection: each scanner alone (`scan_pii`, `scan_secrets`, `scan_injection`);
- full: the three in a row, the full inspection profile's scanners (terms lists are per
  organisation and off by default; `--terms N` adds an arm with an N-term list).

The machine is shared and noisy, so the arms are interleaved: every round times each arm once
on each prompt of the size (single scans, `perf_counter_ns`), the arms' order rotating from
round to round; the table gives p50 and p90 over all of a size's samples, the cost per kB at
p50, and the p50 ratio to the baseline. The issue's target: a 2 kB prompt well under 1 ms,
p50 <= 500 us for the full scan, in process.

    python benchmarks/bench_compliance.py [--rounds 60] [--prompts 4] [--sizes 512 2048 ...]
        [--terms 0] [--ascii] [--json out.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without installing it
    sys.path.insert(0, str(ROOT))

from gateway.compliance.injection import scan_injection  # noqa: E402
from gateway.compliance.pii import scan_pii  # noqa: E402
from gateway.compliance.secrets import scan_secrets  # noqa: E402
from gateway.compliance.terms import TermList  # noqa: E402

SIZES = (512, 2048, 8192, 32768)
TARGET_2KB_P50_US = 500.0
PLAIN = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")

# Benign text, the kind of thing people paste into a support or engineering assistant.
BENIGN = (
    "Hi team, following up on the ticket from last week about the checkout page timing out.",
    "The customer says the issue started after the previous release, around 14:20 UTC on Monday.",
    "I checked the firewall rules and nothing changed there since the 3.4.1 deploy.",
    "Can you summarise the main points of the incident review below for the weekly report?",
    "Our system prompt for the support bot is stored in the config repo; please do not edit it.",
    "The nightly job failed with exit code 137, which usually means the container ran out of "
    "memory.",
    "Please ignore the warnings from the linter for now, we will fix them in a follow-up PR.",
    "Order 58213 was shipped on 2024-03-18 and the tracking page shows it as delivered.",
    'Here is the stack trace from the worker:\n  File "app/jobs.py", line 88, in run\n'
    "    result = client.fetch(batch_id)\nTimeoutError: read timed out after 30.0 s",
    "The dashboard shows p99 latency of 840 ms for the search endpoint, up from 310 ms.",
    "We rolled back to version 2.18.3 and the error rate dropped to 0.2 percent within minutes.",
    "Could you rewrite this paragraph so it sounds friendlier but keeps the same instructions?",
    "config:\n  retries: 3\n  timeout_seconds: 20\n  region: eu-west-1\n  log_level: info",
    "The invoice total was 1,249.50 EUR including VAT; the customer asked for a corrected copy.",
    "Above all, the new onboarding guide should explain the rules for sharing test accounts.",
    "SELECT id, status, created_at FROM orders WHERE status = 'pending' ORDER BY created_at;",
    "Build 4471 passed all 1,812 tests in 6 min 14 s; the flaky test in test_sync.py is skipped.",
    "In the previous meeting we agreed to move the data retention policy review to next quarter.",
    "Let me know if the developer mode toggle on the staging tablets should stay enabled.",
    "2024-05-02T09:14:55Z INFO request_id=7f3c2a1e served GET /api/v2/items in 12 ms",
    "Translate the release notes into German and keep the product names in English, please.",
    "The hash of the artefact is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
    "Thanks for the quick turnaround on this one — the client’s really happy with the fix 🎉",  # noqa: RUF001
    "The customer wrote: “the export still fails after the update, even in Safari”.",
    "Der Kunde schreibt, dass die Rechnung für März doppelt gebucht wurde.",
    "Our SLA is 99.9 percent monthly uptime, measured from the external probes every 60 s.",
)

# One PII value or secret in its sentence; none of them is real (test numbers, doc ranges).
SPRINKLES = (
    "You can reach the account owner at maria.gomez@example.org for the refund.",
    "Her mobile is +44 7700 900461 if the email bounces.",
    "He paid with the card 4111 1111 1111 1111 and the charge went through twice.",
    "Refund to IBAN DE89 3704 0044 0532 0130 00 please, reference on the ticket.",
    "The form shows SSN 536-22-8901 in plain text, which should never happen.",
    "Requests come from 203.0.113.45 and get a 403 from the load balancer.",
    "The old deploy script still has AKIAIOSFODNN7EXAMPLE hard-coded in it.",
    "Someone pasted ghp_FAKE0123456789abcdefghijklmnopqrstuv into the chat.",
    "DATABASE_URL=postgres://app:Tr0ub4dor3x@db.internal:5432/orders is in the .env file.",
    "Call the US office on (415) 555-0132 between 9 and 5 Pacific.",
)


def realistic_prompt(size: int, seed: int, *, ascii_only: bool = False) -> str:
    """A prompt of exactly `size` characters: benign sentences, one sprinkle per ~700.

    With the default pool nearly every prompt has a non-ASCII character (a curly quote, an
    em dash, an emoji: what pasted text carries), which sends the scanners down their slower
    Unicode paths; `ascii_only` leaves those sentences out.
    """
    rng = random.Random(seed)
    benign = [b for b in BENIGN if b.isascii()] if ascii_only else list(BENIGN)
    parts: list[str] = []
    length = 0
    next_sprinkle = rng.randint(200, 700)
    while length < size:
        if length >= next_sprinkle:
            sentence = rng.choice(SPRINKLES)
            next_sprinkle = length + rng.randint(500, 900)
        else:
            sentence = rng.choice(benign)
        parts.append(sentence)
        length += len(sentence) + 1
    text = " ".join(parts)[:size]
    return text


Arm = Callable[[str], object]


def arms(terms: int) -> dict[str, Arm]:
    """The arms in table order; `baseline` first."""
    found: dict[str, Arm] = {
        "baseline (plain regex pass)": lambda t: list(PLAIN.finditer(t)),
        "pii": scan_pii,
        "secrets": scan_secrets,
        "injection": scan_injection,
        "full (pii+secrets+injection)": _full,
    }
    if terms:
        org = TermList([f"Project Codename {i}" for i in range(terms - 1)] + ["Acme Corp"])
        found[f"terms ({terms})"] = org.scan
    return found


def _full(text: str) -> list[object]:
    return [*scan_pii(text), *scan_secrets(text), *scan_injection(text)]


@dataclass
class Row:
    arm: str
    size: int
    p50_us: float
    p90_us: float
    per_kb_us: float
    ratio: float


def measure(
    size: int, prompts: int, rounds: int, every: dict[str, Arm], *, ascii_only: bool = False
) -> dict[str, list[float]]:
    """Microseconds per scan, every arm on every prompt once per round, rotating arm order."""
    texts = [realistic_prompt(size, seed, ascii_only=ascii_only) for seed in range(prompts)]
    names = list(every)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm up: imports, the `re` cache, first-call costs
        for text in texts:
            every[name](text)
    for r in range(rounds):
        gc.collect()
        order = names[r % len(names) :] + names[: r % len(names)]
        for text in texts:
            for name in order:
                scan = every[name]
                start = time.perf_counter_ns()
                scan(text)
                samples[name].append((time.perf_counter_ns() - start) / 1000)
    return samples


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(size: int, samples: dict[str, list[float]]) -> list[Row]:
    base = statistics.median(next(iter(samples.values())))
    rows = []
    for name, values in samples.items():
        p50 = statistics.median(values)
        rows.append(Row(name, size, p50, quantile(values, 0.9), p50 / (size / 1024), p50 / base))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--prompts", type=int, default=4, help="different prompts per size")
    parser.add_argument("--terms", type=int, default=0, help="add an N-term organisation list")
    parser.add_argument(
        "--ascii", action="store_true", help="ASCII-only prompts (no curly quotes or emoji)"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    every = arms(args.terms)
    with open("/proc/loadavg", encoding="ascii") as f:
        load = " ".join(f.read().split()[:3])
    print(
        f"compliance scanners, in process, {args.rounds} rounds x {args.prompts} prompts per size"
        f"{' (ASCII only)' if args.ascii else ''}, arms interleaved; python"
        f" {sys.version.split()[0]}, load avg {load}"
    )
    header = f"{'arm':<32}{'p50 us':>10}{'p90 us':>10}{'us/kB':>9}{'x base':>8}"
    results: list[Row] = []
    for size in args.sizes:
        samples = measure(size, args.prompts, args.rounds, every, ascii_only=args.ascii)
        rows = table(size, samples)
        results.extend(rows)
        print(f"\n{size / 1024:g} kB prompts\n{header}")
        for row in rows:
            print(
                f"{row.arm:<32}{row.p50_us:>10.1f}{row.p90_us:>10.1f}{row.per_kb_us:>9.1f}"
                f"{row.ratio:>8.2f}"
            )
    full_2k = [r for r in results if r.size == 2048 and r.arm.startswith("full")]
    if full_2k:
        verdict = "PASS" if full_2k[0].p50_us <= TARGET_2KB_P50_US else "FAIL"
        print(
            f"\ntarget: full scan of a 2 kB prompt p50 <= {TARGET_2KB_P50_US:g} us: "
            f"{full_2k[0].p50_us:.1f} us {verdict}"
        )
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
