"""The terminal report laid out for a width, like the linters people read every day (ruff's
concise output, eslint's stylish, clusterlint): one header line per finding (check id and
object), what is wrong wrapped under it, grouped by severity. Why it matters and what to change
come with --explain (and always in JSON and SARIF): at 80 columns a finding stays a few lines.

Pure, text in and lines out, so the layout is tested at any width without a terminal; `ui`
prints the lines (styles are rich style names, text is never read as markup)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence

from sfctl.doctor.model import Finding, Severity

__all__ = ["EXPLAIN_HINT", "STYLES", "Line", "finding_lines", "report_lines"]

Line = tuple[tuple[str, str], ...]  # (text, style) parts of one printed line

STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
SUPPRESSED_STYLE = "dim"
HEAD, BODY = 2, 4  # indents: the finding's header line, then its text
EXPLAIN_HINT = "--explain: why each finding matters and what to change"


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """Words wrapped to `width` columns under `indent`; a word longer than the line (a long
    URL, an annotation key) is cut, never left to overflow. Hyphenated names stay whole."""
    return textwrap.wrap(
        " ".join(text.split()),
        width=max(width, indent + 20),
        initial_indent=" " * indent,
        subsequent_indent=" " * indent,
        break_on_hyphens=False,
    )


def _header(finding: Finding, width: int, style: str) -> list[Line]:
    """`  check  Kind/namespace/name` on one line when it fits, else the object under it."""
    check, obj = finding.check, str(finding.object)
    if HEAD + len(check) + 2 + len(obj) <= width:
        return [((" " * HEAD, ""), (check, style), ("  ", ""), (obj, ""))]
    lines: list[Line] = [((" " * HEAD, ""), (check, style))]
    lines += [((text, ""),) for text in _wrap(obj, width, BODY)]
    return lines


def finding_lines(finding: Finding, width: int, *, explain: bool) -> list[Line]:
    """One finding: its header, then what is wrong (--explain: the whole message); a
    suppressed finding shows its reason instead, dimmed."""
    if finding.suppressed is not None:
        head = _header(finding, width, SUPPRESSED_STYLE)
        body = _wrap(f"suppressed: {finding.suppressed}", width, BODY)
        dimmed = [tuple((text, SUPPRESSED_STYLE) for text, _ in line) for line in head]
        return [*dimmed, *(((text, SUPPRESSED_STYLE),) for text in body)]
    text = finding.message if explain else finding.short
    head = _header(finding, width, STYLES[finding.severity])
    return [*head, *(((line, ""),) for line in _wrap(text, width, BODY))]


def _section(
    title: str, style: str, findings: Sequence[Finding], width: int, explain: bool
) -> Iterator[Line]:
    yield ((title, style),)
    for index, finding in enumerate(findings):
        if explain and index:
            yield ()  # a blank line between explained findings, which run several lines
        yield from finding_lines(finding, width, explain=explain)
    yield ()


def report_lines(findings: Sequence[Finding], width: int, *, explain: bool) -> list[Line]:
    """Findings grouped by severity, most severe first, then the suppressed ones (each with
    its reason), each group ending in a blank line."""
    lines: list[Line] = []
    active = [f for f in findings if f.suppressed is None]
    for severity in sorted(Severity, reverse=True):
        group = [f for f in active if f.severity == severity]
        if group:
            title = f"{severity.label} ({len(group)})"
            lines += _section(title, STYLES[severity], group, width, explain)
    suppressed = [f for f in findings if f.suppressed is not None]
    if suppressed:
        title = f"suppressed ({len(suppressed)})"
        lines += _section(title, SUPPRESSED_STYLE, suppressed, width, explain=False)
    return lines
