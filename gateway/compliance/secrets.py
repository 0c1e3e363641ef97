"""Secrets in prompts and responses: provider keys, private keys, JWTs, connection strings.

Secret scanners are precise where a rule knows the format and noisy where they guess (gitleaks,
detect-secrets). So most rules here are fixed formats: a documented prefix and a length
(`AKIA` + 16 base32 characters, `ghp_` + 36, `glpat-` + 20, ...), and the one rule that guesses
(a high-entropy value assigned to a secret-sounding name) guesses only inside an assignment,
against an entropy threshold for the value's own alphabet, and steps aside for UUIDs, hashes and
placeholders. A JWT must decode to a JSON header with "alg"; a connection string must carry a
password that is not a placeholder. Findings give the span; the matched text is never kept.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gateway.compliance.entropy import entropy_threshold, is_filler, shannon_entropy
from gateway.compliance.findings import Finding
from gateway.compliance.injection_rules import lowered


@dataclass(frozen=True, slots=True)
class _Rule:
    """One fixed-format rule: the finding covers group `group` of each match that `valid` keeps."""

    name: str
    type: str
    pattern: re.Pattern[str]
    confidence: float
    # Lower case; every match contains one, and the regex runs only if the text does. `in` on
    # the lower-cased text skips a 2 kB text in a few hundred instructions; a regex that starts
    # with a literal still steps through it (about 15,000): most texts hold no hint at all.
    hints: tuple[bytes, ...] = ()
    group: int = 0
    valid: Callable[[re.Match[str]], bool] | None = None
    filler_check: bool = True  # reject `AKIAXXXXXXXXXXXXXXXX`-style placeholders
    # When set, the pattern is not scanned over the text: it is matched at the start of the word
    # right before each occurrence of `anchor` (a URL scheme before `://`), which is far cheaper
    # than letting a case-insensitive alternation try every position.
    anchor: str = ""
    # When set, the pattern is written in lower case and runs on the lowercased text, where a
    # literal start is found fast (a case-insensitive pattern tries every position instead).
    folded: bool = False
    # Every match is a token: it starts a run of `_TOKEN_CHARS` (its lookbehind refuses a word
    # character or `-` before it) and lies inside that run, `_MIN_TOKEN` long at least. Such a
    # rule is matched at the start of each run that long, not scanned over the text.
    token: bool = False


def _jwt_valid(m: re.Match[str]) -> bool:
    """The header is base64url JSON naming an algorithm, and the payload is base64url JSON."""
    header, payload = m.group().split(".")[:2]
    try:
        decoded = json.loads(_b64url(header))
        json.loads(_b64url(payload))
    except (ValueError, binascii.Error):
        return False
    return isinstance(decoded, dict) and isinstance(decoded.get("alg"), str)


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_PLACEHOLDER = re.compile(
    r"(?i)^(?:[*x.#_-]+|<.*>|\{.*\}|\$\{?.*|%.*%|\[.*\]|pass(?:word)?|passwd|pwd|secret|changeme"
    r"|your[-_]?\w*|my[-_]?password|user(?:name)?|admin|example|redacted|hidden|none|null)$"
)


def _password_real(m: re.Match[str]) -> bool:
    return not _PLACEHOLDER.match(m.group("pw"))


_END = r"(?![\w-])"
_AWS_KEY_TAIL = r"[\"']?\s{0,8}(?:[:=]|:=|=>)\s{0,8}[\"']?([a-z0-9/+=]{40})(?![a-z0-9/+=])"
# `Server=...;...;Password=...`: the password, where a server or data source came before it.
_ADO_HEAD = re.compile(r"(?:server|data source|host)\s*=[^;\n]+;(?:[^;\n]*;){0,12}?\s*$")


def _ado_password(m: re.Match[str]) -> bool:
    head = _ADO_HEAD.search(m.string, max(0, m.start() - 400), m.start())
    return head is not None and _password_real(m)


_RULES: tuple[_Rule, ...] = (
    _Rule(
        "aws_access_key_id",
        "aws_access_key",
        re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)(?<![A-Za-z0-9]....)[A-Z2-7]{16}(?![A-Za-z0-9])"),
        0.95,
    ),
    _Rule(
        "aws_secret_access_key",
        "aws_secret_key",
        re.compile(r"secret_?access_?key" + _AWS_KEY_TAIL),
        0.9,
        (b"access",),
        group=1,
        folded=True,
    ),
    _Rule(
        "aws_secret_access_key",
        "aws_secret_key",
        re.compile(r"aws_?secret_?key" + _AWS_KEY_TAIL),
        0.9,
        (b"aws",),
        group=1,
        folded=True,
    ),
    _Rule(
        "gcp_api_key",
        "gcp_api_key",
        re.compile(r"AIza(?<![\w-]AIza)[0-9A-Za-z_-]{35}" + _END),
        0.95,
        token=True,
    ),
    _Rule(
        "github_token",
        "github_token",
        re.compile(r"gh[pousr]_(?<![\w-]gh[pousr]_)[A-Za-z0-9]{36}" + _END),
        0.97,
        token=True,
    ),
    _Rule(
        "github_fine_grained_pat",
        "github_token",
        re.compile(r"github_pat_(?<![\w-]github_pat_)[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _END),
        0.97,
        token=True,
    ),
    _Rule(
        "gitlab_pat",
        "gitlab_token",
        re.compile(r"glpat-(?<![\w-]glpat-)[A-Za-z0-9_-]{20,64}" + _END),
        0.95,
        token=True,
    ),
    _Rule(
        "slack_token",
        "slack_token",
        re.compile(
            r"xox[abposr]-(?<![\w-]xox[abposr]-)(?:\d{8,13}-){1,3}[A-Za-z0-9]{20,40}" + _END
        ),
        0.95,
        token=True,
    ),
    _Rule(
        "slack_webhook",
        "slack_webhook",
        re.compile(
            r"https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/"
            r"[A-Za-z0-9]{20,32}"
        ),
        0.95,
        (b"hooks.slack.com",),
    ),
    _Rule(
        "stripe_live_key",
        "stripe_key",
        re.compile(r"[sr]k_live_(?<![\w-][sr]k_live_)[0-9A-Za-z]{24,99}" + _END),
        0.97,
        token=True,
    ),
    _Rule(
        "anthropic_api_key",
        "anthropic_api_key",
        re.compile(r"sk-ant-(?<![\w-]sk-ant-)(?:api|admin|sid)\d{2}-[A-Za-z0-9_-]{40,120}" + _END),
        0.97,
        token=True,
    ),
    _Rule(
        "openai_project_key",
        "openai_api_key",
        re.compile(r"sk-(?<![\w-]sk-)(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,200}" + _END),
        0.95,
        token=True,
    ),
    _Rule(
        "openai_legacy_key",
        "openai_api_key",
        re.compile(r"sk-(?<![\w-]sk-)[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}" + _END),
        0.97,
        token=True,
    ),
    _Rule(
        "openai_user_key",
        "openai_api_key",
        re.compile(r"sk-(?<![\w-]sk-)[A-Za-z0-9]{48}" + _END),
        0.85,
        token=True,
    ),
    _Rule(
        "smartflow_virtual_key",
        "smartflow_key",
        re.compile(r"sk-sf-(?<![\w-]sk-sf-)[A-Za-z0-9_-]{43}" + _END),
        0.95,
        token=True,
    ),
    _Rule(
        "azure_storage_connection_string",
        "azure_storage_key",
        re.compile(
            r"DefaultEndpointsProtocol=https?;AccountName=[a-z0-9]{3,24};"
            r"AccountKey=[A-Za-z0-9+/]{86}==(?:;EndpointSuffix=[\w.]+)?"
        ),
        0.97,
        (b"defaultendpointsprotocol=",),
    ),
    _Rule(
        "private_key_pem",
        "private_key",
        re.compile(
            r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"
            r"(?: BLOCK)?)-----[\s\S]{40,12000}?-----END \1-----"
        ),
        0.99,
        (b"-----begin ",),
        filler_check=False,
    ),
    _Rule(
        "private_key_pem_truncated",
        "private_key",
        re.compile(
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"
            r"(?: BLOCK)?-----\s*(?:[\w-]+: [^\n]*\n)*[A-Za-z0-9+/=\s]{64,}"
        ),
        0.9,
        (b"-----begin ",),
        filler_check=False,
    ),
    _Rule(
        "jwt",
        "jwt",
        re.compile(
            r"eyJ(?<![\w-]eyJ)[A-Za-z0-9_-]{6,}\.eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]*" + _END
        ),
        0.95,
        (b"eyj",),
        valid=_jwt_valid,
        filler_check=False,
    ),
    _Rule(
        "database_url_password",
        "connection_string",
        re.compile(
            r"(?i)(?<![\w+.-])(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?"
            r"|mssql|sqlserver|oracle|clickhouse|cockroachdb)(?:\+\w+)?://"
            r"[^\s:/@]+:(?P<pw>[^\s@/]+)@[^\s/'\"]+(?:/[^\s'\"]*)?"
        ),
        0.95,
        (b"://",),
        valid=_password_real,
        anchor="://",
        filler_check=False,
    ),
    _Rule(
        "ado_connection_string_password",
        "connection_string",
        re.compile(r"p(?:assword|wd)\s*=\s*(?P<pw>[^;'\"\s]+)"),
        0.9,
        (b"password", b"pwd"),  # the pattern's literal prefix is one letter: every `p` a try
        valid=_ado_password,
        filler_check=False,
        folded=True,
    ),
)

# A secret-sounding name assigned a value: `api_key = "..."`, `"token": "..."`, `SECRET=...`,
# `Authorization: Bearer ...`. The scan looks for the cheap part first, a separator followed by a
# long value (rare in prose), and only then reads the name back from the separator; every
# quantifier is bounded, so long identifier-like runs stay linear.
_ASSIGNED_VALUE = re.compile(
    r"[:=][=>]?\s{0,8}(?:(?i:bearer|token)\s{1,4})?"
    r"(?:(?P<quote>[\"'])(?P<quoted>[^\s\"'`]{16,256})(?P=quote)"  # quoted: any printable
    r"|[\"']?(?P<value>[A-Za-z0-9+/_.~-]{16,}={0,2}))"
)
_SECRET_NAME_BEFORE = re.compile(
    r"(?i)(?:secret|token|api[_-]?key|apikey|passw(?:or)?d|pwd|auth|credential|private[_-]?key"
    r"|access[_-]?key)[a-z0-9_.-]{0,40}[\"']?\s{0,8}$"
)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_NOT_SECRET_NAME = re.compile(
    r"(?i)hash|sha(?:\d|_|\b)|md5|digest|checksum|fingerprint|_id(?:\b|_)|count|length|type"
    r"|url|uri|endpoint|file|path|expir|ttl|limit|name"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_PLACEHOLDER_WORDS = re.compile(r"(?i)your|here|xxxx|example_?key|placeholder|changeme|\$\{|\{\{")
# `settings.STRIPE_KEY`, `process.env.API_TOKEN`: a reference to where the secret lives.
_ATTRIBUTE_PATH = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")


def _name_start(text: str, start: int) -> int:
    """Where the identifier that contains position `start` begins (at most 40 back)."""
    low = max(0, start - 40)
    while start > low and text[start - 1] in _NAME_CHARS:
        start -= 1
    return start


def _assignments(text: str) -> Iterator[Finding]:
    for m in _ASSIGNED_VALUE.finditer(text):
        low = max(0, m.start() - 64)
        named = _SECRET_NAME_BEFORE.search(text, low, m.start())
        if named is None:
            continue
        name = text[_name_start(text, named.start()) : named.end()]
        group = "quoted" if m.group("quoted") else "value"
        value = m.group(group).rstrip(".")
        if _NOT_SECRET_NAME.search(name) or _UUID.match(value):
            continue
        if len(value) < 16 or _PLACEHOLDER_WORDS.search(value) or _ATTRIBUTE_PATH.match(value):
            continue
        if is_filler(value, walks=True):
            continue
        threshold = entropy_threshold(value)
        if threshold is None or shannon_entropy(value) < threshold:
            continue
        start = m.start(group)
        confidence = 0.7 if _HEX.match(value) else 0.8
        yield Finding(
            "high_entropy_secret", start, start + len(value), confidence, "entropy_assignment",
            "secrets",
        )  # fmt: skip


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+")


def _anchored(text: str, rule: _Rule) -> Iterator[re.Match[str]]:
    at = text.find(rule.anchor)
    while at != -1:
        start = at
        while start > max(0, at - 24) and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        m = rule.pattern.match(text, start)
        if m is not None:
            yield m
        at = text.find(rule.anchor, max(at + 1, m.end() if m else 0))


# The characters of a key token, as bytes of the lower-cased text (`lowered`): a token's run
# marked `a`, every other character a space. The shortest token rule match is 26 characters.
_TOKEN_CHARS = b"abcdefghijklmnopqrstuvwxyz0123456789_-"
_TOKEN_MARKS = bytes(ord("a") if c in _TOKEN_CHARS else ord(" ") for c in range(256))
_MIN_TOKEN = 24
_TOKEN_RUN = b"a" * _MIN_TOKEN


def _token_starts(raw: bytes) -> list[int]:
    """Where each run of token characters at least `_MIN_TOKEN` long starts (`raw`: the
    lower-cased text as ASCII bytes, `?` for every non-ASCII character)."""
    marked = raw.translate(_TOKEN_MARKS)
    starts: list[int] = []
    at = marked.find(_TOKEN_RUN)
    while at != -1:  # leftmost past the previous run: the start of a run
        starts.append(at)
        end = marked.find(b" ", at + _MIN_TOKEN)
        if end == -1:
            break
        at = marked.find(_TOKEN_RUN, end)
    return starts


def _fixed(text: str) -> Iterator[Finding]:
    low, raw = lowered(text)
    # lower() keeps ASCII lengths; where it changed one (`İ`), spans on `low` would be wrong
    folded = low if len(low) == len(text) else None
    tokens = _token_starts(raw) if folded is not None else None
    for rule in _RULES:
        if rule.hints and not any(hint in raw for hint in rule.hints):
            continue
        if rule.token and tokens is not None:
            at_starts = map(rule.pattern.match, itertools.repeat(text), tokens)
            matches: Iterator[re.Match[str]] = (m for m in at_starts if m is not None)
        elif rule.folded:
            pattern = rule.pattern if folded is not None else re.compile(rule.pattern.pattern, re.I)
            matches = pattern.finditer(folded if folded is not None else text)
        elif rule.anchor:
            matches = _anchored(text, rule)
        else:
            matches = rule.pattern.finditer(text)
        for m in matches:
            if rule.valid is not None and not rule.valid(m):
                continue
            start, end = m.span(rule.group)
            if rule.filler_check and is_filler(text[start:end]):
                continue
            yield Finding(rule.type, start, end, rule.confidence, rule.name, "secrets")


def scan_secrets(text: str) -> list[Finding]:
    """Every secret finding in `text`, by position; of overlapping ones the fixed format wins."""
    found = list(_fixed(text))
    found.extend(_assignments(text))
    # Rule order is priority order (specific before generic), then the entropy rule last.
    kept: list[Finding] = []
    for f in found:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    kept.sort(key=lambda f: (f.start, f.end))
    return kept
