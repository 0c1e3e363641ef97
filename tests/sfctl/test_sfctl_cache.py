"""`sfctl cache stats | purge | warm` as an operator runs them, against a real gateway that
`sfctl up --detach` started from the working tree (mock provider, embedded cache): the admin
URL and key come from `sfctl up`'s data directory, the proxy's key from `sfctl keys create`."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.local_up import CLEAN_ENV
from support.procs import free_port

pytestmark = pytest.mark.e2e

KEY_ENV = ("SMARTFLOW_API_KEY", "SF_API_KEY", "SF_BASE")


def sfctl(
    *args: str, columns: int = 200, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (*CLEAN_ENV, *KEY_ENV)}
    return subprocess.run(
        [sys.executable, "-m", "sfctl", *args],
        env={**base, "COLUMNS": str(columns), "NO_COLOR": "1", **(env or {})},
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def ok(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = sfctl(*args, **kwargs)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """A failure: the exit code, and stderr one `error:` line (no traceback)."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def fits(text: str, width: int = 80) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, "\n".join(too_wide)


@dataclass(frozen=True)
class Gateway:
    url: str
    data_dir: Path

    @property
    def local(self) -> tuple[str, str]:
        return ("--data-dir", str(self.data_dir))

    def key(self, team: str) -> tuple[str, str]:
        """A new virtual key of `team` (its answers are cached in namespace team:<team>)."""
        created = json.loads(
            ok("keys", "create", "--name", team, "--team", team, *self.local, "-o", "json").stdout
        )
        return created["key"], f"team:{team}"

    def stats(self) -> dict[str, Any]:
        figures: dict[str, Any] = json.loads(ok("cache", "stats", *self.local, "-o", "json").stdout)
        return figures

    def entries(self, namespace: str) -> int:
        rows = [r for r in self.stats()["namespaces"] if r["namespace"] == namespace]
        return int(rows[0]["entries"]) if rows else 0

    def warm(
        self, path: Path, secret: str, *args: str, columns: int = 200
    ) -> subprocess.CompletedProcess[str]:
        return sfctl(
            "cache", "warm", str(path), *self.local, *args,
            columns=columns, env={"SMARTFLOW_API_KEY": secret},
        )  # fmt: skip


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir = tmp_path_factory.mktemp("sfctl-cache") / "state"
    port = free_port()
    try:
        ok("up", "--detach", "--port", str(port), "--data-dir", str(data_dir))
        yield Gateway(f"http://127.0.0.1:{port}", data_dir)
    finally:
        sfctl("down", "--data-dir", str(data_dir))


def team() -> str:
    return "t" + secrets.token_hex(4)


def write_lines(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def by_line(report: dict[str, Any]) -> dict[int, str]:
    return {r["line"]: r["outcome"] for r in report["results"]}


def test_warm_a_mixed_file(gateway: Gateway, tmp_path: Path) -> None:
    """Plain prompts, JSON prompts and chat bodies; a bad line is named and skipped (exit 1);
    a prompt repeated in the file is answered from the cache the second time, even with
    several requests in flight; a second run finds everything cached."""
    secret, namespace = gateway.key(team())
    chat = {"messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "Name three primes."}], "temperature": 0}  # fmt: skip
    prompts = write_lines(
        tmp_path / "prompts.jsonl",
        "What is the capital of France?",  # 1
        json.dumps({"prompt": "Explain TCP slow start in one sentence."}),  # 2
        "",  # 3: blank, skipped without a word
        json.dumps(chat),  # 4
        '{"prompt": "unterminated',  # 5: bad
        json.dumps({"prompt": "Same question, other model", "model": "gpt-4o"}),  # 6
        "What is the capital of France?",  # 7: the repeat of line 1
    )
    result = gateway.warm(prompts, secret, "--concurrency", "4", "-o", "json")
    assert one_line_error(result, 1) == f"error: 1 bad line(s) in {prompts}"
    assert "line 5: not valid JSON" in result.stderr
    assert secret not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert by_line(report) == {1: "stored", 2: "stored", 4: "stored", 6: "stored", 7: "cached"}
    assert report["results"][-1]["cache"] == "hit-exact"
    assert report["summary"] == {
        "sent": 5, "already_cached": 1, "newly_stored": 4, "not_cacheable": 0,
        "failed": 0, "bad_lines": 1,
    }  # fmt: skip
    assert report["bad_lines"] == [{"line": 5, "error": report["bad_lines"][0]["error"]}]
    assert gateway.entries(namespace) == 4

    # the table, at 80 columns: one row per line, the summary under it
    again = gateway.warm(prompts, secret, columns=80)
    assert again.returncode == 1
    fits(again.stdout)
    rows = {line.split("│")[1].strip(): line for line in again.stdout.splitlines() if "│" in line}
    for number in ("1", "2", "4", "6", "7"):
        assert "already cached (hit-exact)" in rows[number]
    assert "bad line" in rows["5"]
    assert "newly stored" in rows and "already cached" in rows
    assert rows["already cached"].split("│")[2].strip() == "5"
    assert rows["newly stored"].split("│")[2].strip() == "0"
    assert secret not in again.stdout + again.stderr


def test_warm_plain_text_file_all_good(gateway: Gateway, tmp_path: Path) -> None:
    """A plain text file (no JSON at all) that warms cleanly exits 0."""
    secret, namespace = gateway.key(team())
    prompts = write_lines(tmp_path / "prompts.txt", "first prompt", "second prompt")
    result = gateway.warm(prompts, secret, "--model", "gpt-4o")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("newly stored") >= 2
    assert gateway.entries(namespace) == 2


def test_warm_refuses_missing_and_empty_files(gateway: Gateway, tmp_path: Path) -> None:
    secret, _ = gateway.key(team())
    missing = gateway.warm(tmp_path / "nope.txt", secret)
    assert "no such file" in one_line_error(missing, 2)
    empty = gateway.warm(write_lines(tmp_path / "empty.txt", "", "  "), secret)
    assert "has no prompts" in one_line_error(empty, 2)
    no_key = sfctl("cache", "warm", str(tmp_path / "nope.txt"), *gateway.local)
    assert "--key" in one_line_error(no_key, 2)


def test_warm_with_a_refused_key_stops_at_once(gateway: Gateway, tmp_path: Path) -> None:
    wrong = "sk-sf-" + secrets.token_urlsafe(24)
    prompts = write_lines(tmp_path / "p.txt", *(f"prompt {i}" for i in range(20)))
    result = gateway.warm(prompts, wrong)
    assert "refused the key (401)" in one_line_error(result, 1)
    assert wrong not in result.stdout + result.stderr


def test_stats_table_and_json(gateway: Gateway, tmp_path: Path) -> None:
    secret, namespace = gateway.key(team())
    prompts = write_lines(tmp_path / "p.txt", "alpha question", "beta question", "alpha question")
    assert gateway.warm(prompts, secret).returncode == 0

    stats = gateway.stats()
    assert stats["mode"] == "embedded" and stats["replicas"] == 1
    assert stats["hits"] >= 1 and stats["lookups"] >= stats["hits"] + stats["misses"]
    assert set(stats["phases"]) == {"exact_local", "exact_shared", "normalized", "semantic"}
    row = next(r for r in stats["namespaces"] if r["namespace"] == namespace)
    assert (row["entries"], row["hits"], row["misses"]) == (2, 1, 2)
    assert row["bytes"] > 0 and row["tokens_saved"] > 0

    wide = ok("cache", "stats", *gateway.local).stdout
    assert "Response cache" in wide and "Lookups per phase" in wide
    assert namespace in wide and "false hits" in wide

    narrow = ok("cache", "stats", *gateway.local, columns=80).stdout
    fits(narrow)
    assert namespace in narrow  # whole: it is what `purge --namespace` takes
    assert "Not shown at this width" in narrow


def test_purge_by_model_and_by_namespace(gateway: Gateway, tmp_path: Path) -> None:
    secret, namespace = gateway.key(team())
    other_secret, other = gateway.key(team())
    lines = (
        json.dumps({"prompt": "one", "model": "gpt-4o"}),
        json.dumps({"prompt": "two", "model": "gpt-4o"}),
        json.dumps({"prompt": "three", "model": "gpt-4o-mini"}),
    )
    prompts = write_lines(tmp_path / "p.jsonl", *lines)
    assert gateway.warm(prompts, secret).returncode == 0
    assert gateway.warm(prompts, other_secret).returncode == 0
    assert gateway.entries(namespace) == 3 and gateway.entries(other) == 3

    by_model = json.loads(
        ok("cache", "purge", "--namespace", namespace, "--model", "gpt-4o", *gateway.local,
           "-o", "json").stdout
    )  # fmt: skip
    assert by_model == {"purged": 2, "namespace": namespace, "model": "gpt-4o"}
    assert gateway.entries(namespace) == 1 and gateway.entries(other) == 3

    shown = ok("cache", "purge", "--namespace", namespace, *gateway.local).stdout
    assert f"Purged 1 cached answer(s) (namespace {namespace})" in shown
    assert gateway.entries(namespace) == 0 and gateway.entries(other) == 3

    # purged answers are fetched again, and stored again
    report = json.loads(gateway.warm(prompts, secret, "-o", "json").stdout)
    assert set(by_line(report).values()) == {"stored"}
    assert "--namespace must not be empty" in one_line_error(
        sfctl("cache", "purge", "--namespace", " ", *gateway.local), 2
    )


def test_purge_everything_asks_first(gateway: Gateway, tmp_path: Path) -> None:
    secret, namespace = gateway.key(team())
    assert gateway.warm(write_lines(tmp_path / "p.txt", "keep me"), secret).returncode == 0
    total = gateway.stats()["entries"]
    assert total >= 1

    refused = sfctl("cache", "purge", *gateway.local, stdin="n\n")
    assert one_line_error(refused, 1) == "error: not confirmed: nothing was purged"
    assert f"Purge all {total:,} cached answers" in refused.stderr
    assert refused.stdout == ""
    no_answer = sfctl("cache", "purge", *gateway.local, stdin="")
    assert "--yes" in one_line_error(no_answer, 2)
    assert gateway.stats()["entries"] == total

    agreed = json.loads(ok("cache", "purge", *gateway.local, "-o", "json", stdin="y\n").stdout)
    assert agreed == {"purged": total, "namespace": None, "model": None}
    assert gateway.stats()["entries"] == 0

    assert gateway.warm(write_lines(tmp_path / "p.txt", "keep me"), secret).returncode == 0
    assert "Purged 1 cached answer(s)" in ok("cache", "purge", "--yes", *gateway.local).stdout
    assert gateway.entries(namespace) == 0


def test_a_wrong_admin_key_is_one_line(gateway: Gateway) -> None:
    wrong = "sf-admin-" + secrets.token_urlsafe(16)
    for command in (("stats",), ("purge", "--yes"), ("purge", "--model", "gpt-4o")):
        result = sfctl("cache", *command, "--url", gateway.url, "--admin-key", wrong)
        assert "refused the admin key (401)" in one_line_error(result, 1)
        assert wrong not in result.stderr
    nowhere = sfctl("cache", "stats", "--data-dir", str(gateway.data_dir.parent / "none"))
    assert "no management API to talk to" in one_line_error(nowhere, 2)


def test_each_kind_of_line() -> None:
    """What a line becomes: a prompt (anything not starting with "{"), a JSON prompt (its own
    model), a chat body (sent whole, never streamed), or a bad line with its number and why."""
    from sfctl.cache_warm import parse_lines

    body = {"model": "m2", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "stream": True, "stream_options": {"include_usage": True}, "seed": 7}  # fmt: skip
    text = "\n".join([
        "  plain   prompt  ",
        json.dumps({"prompt": "json prompt", "model": "m1"}),
        json.dumps(body),
        "[1, 2]",
        json.dumps({"prompt": "p", "temperature": 0}),
        json.dumps({"messages": []}),
        json.dumps({"messages": [{"content": "no role"}]}),
        json.dumps({"prompt": "p", "model": ""}),
        json.dumps({"question": "?"}),
    ])  # fmt: skip
    requests, bad = parse_lines(text, "default-model")
    assert [(r.line, r.body["model"], r.label) for r in requests] == [
        (1, "default-model", "plain prompt"),
        (2, "m1", "json prompt"),
        (3, "m2", "hi"),
        (4, "default-model", "[1, 2]"),
    ]
    assert requests[0].body["messages"] == [{"role": "user", "content": "plain   prompt"}]
    sent = {k: v for k, v in body.items() if k != "stream_options"}
    assert requests[2].body == {**sent, "stream": False}
    assert [(b.line, b.reason) for b in bad] == [
        (5, 'unknown field \'temperature\' beside "prompt" (use "messages")'),
        (6, '"messages" must be a non-empty list'),
        (7, '"messages"[0] must be an object with a "role"'),
        (8, '"model" must be a non-empty string'),
        (9, 'a JSON line needs "prompt" or "messages"'),
    ]
