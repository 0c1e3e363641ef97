"""Cost of the guardrail policy language: compile once, evaluate per request.

Baseline measured in the same run: the reference condition written by hand as a Python function
over the same context (the least any evaluator can cost). Then our compiled conditions, a whole
10-rule policy (no rule matching, so every condition runs: the worst case), the per-request
context build, and the compile cost. When the optional engines are importable (they are not
dependencies: `pip install common-expression-language cedarpy` in a throwaway venv), the same
condition in CEL (Rust bindings) and Cedar (cedarpy) is measured too, with their error messages
for the same mistakes. Prints medians over rounds.

    python benchmarks/bench_policy.py [--iterations 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from gateway.compliance.findings import Finding
from gateway.policy.compile import PolicyError, compile_policy
from gateway.policy.conditions import compile_condition
from gateway.policy.evaluate import evaluate
from gateway.policy.model import KeyInfo, PolicyContext, summarize_findings

REFERENCE = (
    "key.team == 'finance' && findings.count('payment_card') > 0 && "
    "request.model.startsWith('gpt-4')"
)
RULES = [
    ("secrets", "findings.has('aws_access_key') || findings.has('private_key')", "deny"),
    ("pii-external", "findings.has('email') && !model.startsWith('local-')", "redact"),
    ("big-prompts", "tokens > 32000 && model == 'gpt-4o'", "route"),
    ("no-cache", "metadata.no_cache == true", "cache"),
    ("finance-full", "key.team in ['legal', 'audit'] && direction == 'response'", "inspect"),
    ("weekend-spend", "weekday in ['sat', 'sun'] && hour < 6 && cost > 1.0", "deny"),
    ("injection", "findings.confidence('prompt_injection') >= 0.8", "deny"),
    ("trial", "key.metadata['tier'] == 'trial' && cost > 0.05", "log"),
    ("opus", "route.startsWith('/anthropic') && model.matches('^claude-3-opus')", "route"),
    ("cards", REFERENCE.replace("finance", "payments"), "deny"),
]
ACTIONS: dict[str, Any] = {
    "deny": {"type": "deny", "message": "blocked by policy"},
    "redact": {"type": "redact", "types": ["email"], "replacement": "mask"},
    "route": {"type": "route", "model": "gpt-4o-mini"},
    "cache": {"type": "cache", "bypass": True},
    "inspect": {"type": "inspect", "profile": "full"},
    "log": "log",
}
POLICY = {
    "name": "bench",
    "rules": [{"name": n, "when": w, "action": ACTIONS[a]} for n, w, a in RULES],
}
FINDINGS = [
    Finding("payment_card", 10, 26, 0.99, "luhn", "pii"),
    Finding("payment_card", 40, 56, 0.97, "luhn", "pii"),
    Finding("phone", 70, 82, 0.7, "e164", "pii"),
]
CONTEXT = PolicyContext(
    key=KeyInfo("key-1", "finance", {"tier": "paid"}),
    model="gpt-4o",
    route="/v1/chat/completions",
    findings=summarize_findings(FINDINGS),
    tokens=1200,
    cost=0.012,
    hour=14,
    weekday="wed",
    metadata={"app": "ledger"},
)
BAD = {"unknown field": "key.modle == 'x'", "'=' for '=='": "key.team = 'finance'"}


def per_call_us(run: Callable[[], object], iterations: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(iterations):
            run()
        samples.append((time.perf_counter() - started) / iterations * 1e6)
    return statistics.median(samples)


def hand_written(c: PolicyContext) -> bool:
    stat = c.findings.get("payment_card")
    return (
        c.key.team == "finance" and (stat.count if stat else 0) > 0 and c.model.startswith("gpt-4")
    )


def build_context() -> PolicyContext:
    return PolicyContext(
        key=KeyInfo("key-1", "finance", {"tier": "paid"}),
        model="gpt-4o",
        route="/v1/chat/completions",
        findings=summarize_findings(FINDINGS),
        tokens=1200,
        cost=0.012,
        hour=14,
        weekday="wed",
    )


def ours(n: int, rounds: int) -> None:
    condition = compile_condition(REFERENCE)
    assert condition(CONTEXT) is True and hand_written(CONTEXT) is True
    policy = compile_policy(POLICY)
    assert evaluate(policy, CONTEXT).rule is None  # worst case: every rule runs
    base = per_call_us(lambda: hand_written(CONTEXT), n, rounds)
    rows = [
        ("baseline: hand-written Python function", base),
        ("ours: reference condition", per_call_us(lambda: condition(CONTEXT), n, rounds)),
        (
            "ours: evaluate(10-rule policy, none match)",
            per_call_us(lambda: evaluate(policy, CONTEXT), n, rounds),
        ),
        ("ours: build context + summarize 3 findings", per_call_us(build_context, n, rounds)),
        (
            "ours: compile reference condition",
            per_call_us(lambda: compile_condition(REFERENCE), n // 20, rounds),
        ),
        (
            "ours: compile_policy (10 rules, pydantic)",
            per_call_us(lambda: compile_policy(POLICY), n // 50, rounds),
        ),
    ]
    for label, us in rows:
        print(f"  {label:<48} {us:9.3f} us   x{us / base:6.1f}")
    for what, source in BAD.items():
        try:
            compile_policy(
                {"name": "bad", "rules": [{"name": "r", "when": source, "action": "allow"}]}
            )
        except PolicyError as error:
            print(f"  error ({what}): {error}")


def context_dict() -> dict[str, Any]:
    return {
        "key": {"id": "key-1", "team": "finance", "metadata": {"tier": "paid"}},
        "request": {"model": "gpt-4o", "route": "/v1/chat/completions", "tokens": 1200},
        "findings": {"payment_card": {"count": 2}, "phone": {"count": 1}},
    }


def cel_arm(n: int, rounds: int) -> None:
    try:
        import cel  # type: ignore[import-not-found]
    except ImportError:
        print("  CEL: not installed (pip install common-expression-language)")
        return
    source = "key.team == 'finance' && findings.payment_card.count > 0 && request.model.startsWith('gpt-4')"
    program = cel.compile(source)
    variables = context_dict()
    prebuilt = cel.Context(variables=variables)
    assert program.execute(prebuilt) is True
    print(
        f"  {'CEL: compile':<48} {per_call_us(lambda: cel.compile(source), n // 20, rounds):9.3f} us"
    )
    print(
        f"  {'CEL: execute(dict) (converts the context)':<48} {per_call_us(lambda: program.execute(variables), n // 10, rounds):9.3f} us"
    )
    print(
        f"  {'CEL: execute(prebuilt Context)':<48} {per_call_us(lambda: program.execute(prebuilt), n, rounds):9.3f} us"
    )

    def ten_per_request() -> None:
        context = cel.Context(variables=variables)
        for _ in range(10):
            program.execute(context)

    print(
        f"  {'CEL: 10 programs, one Context built per request':<48} "
        f"{per_call_us(ten_per_request, n // 10, rounds):9.3f} us"
    )
    for what, bad in BAD.items():
        try:
            cel.compile(bad).execute(prebuilt)
            print(f"  CEL error ({what}): none")
        except Exception as error:  # we print whatever the engine says
            print(
                f"  CEL error ({what}): {type(error).__name__}: {' | '.join(str(error).splitlines()[:2])}"
            )


def cedar_arm(n: int, rounds: int) -> None:
    try:
        import cedarpy  # type: ignore[import-not-found]
    except ImportError:
        print("  Cedar: not installed (pip install cedarpy)")
        return
    text = (
        'permit(principal, action, resource) when { context.key.team == "finance" && '
        'context.findings.payment_card.count > 0 && context.request.model like "gpt-4*" };'
    )
    policies = cedarpy.PolicySet.from_str(text)
    entities = cedarpy.Entities.from_json_str("[]")
    request = {
        "principal": 'Key::"key-1"',
        "action": 'Action::"request"',
        "resource": 'Model::"gpt-4o"',
        "context": context_dict(),
    }
    assert cedarpy.is_authorized(request, policies, entities).allowed
    print(
        f"  {'Cedar: parse policy':<48} {per_call_us(lambda: cedarpy.PolicySet.from_str(text), n // 20, rounds):9.3f} us"
    )
    print(
        f"  {'Cedar: is_authorized (pre-parsed)':<48} {per_call_us(lambda: cedarpy.is_authorized(request, policies, entities), n // 20, rounds):9.3f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"policy language, median of {args.rounds} rounds; condition: {REFERENCE}")
    ours(args.iterations, args.rounds)
    cel_arm(args.iterations, args.rounds)
    cedar_arm(args.iterations, args.rounds)


if __name__ == "__main__":
    main()
