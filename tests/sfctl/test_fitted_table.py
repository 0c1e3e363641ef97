"""`ui.fitted_table` at 80 columns: a long wrapping cell beside a wide unbreakable one (a URL)
wraps inside its column; the table keeps its right border and no line passes the terminal."""

from __future__ import annotations

import pytest

from sfctl import ui

COLUMNS = ("name", "health", "tools", "target", "teams", "last error")
ERROR = "MCP server 'down' unavailable: connection refused"


def _render(capsys: pytest.CaptureFixture[str], rows: list[list[str]]) -> list[str]:
    ui.fitted_table(
        "MCP servers",
        COLUMNS,
        rows,
        drop_order=("teams", "last error", "target"),
        wrap=("target", "last error", "teams"),
        hint="sfctl mcp list -o json",
    )
    return capsys.readouterr().out.splitlines()


def test_a_long_cell_wraps_inside_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    rows = [
        ["down", "down", "0", "http://127.0.0.1:1/mcp", "any", ERROR],
        ["notes", "ok", "2", "http://127.0.0.1:8931/mcp", "any", "-"],
    ]
    lines = _render(capsys, rows)
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and all(len(line) <= 80 for line in lines)
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in table)  # closed: nothing cropped
    text = " ".join(line.strip("│ ") for line in table)
    for word in ERROR.split():
        assert word in text  # every word of the error shown, none cut
    assert "http://127.0.0.1:8931/mcp" in text


def test_narrow_tables_keep_their_natural_widths(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    lines = _render(capsys, [["a", "ok", "2", "http://x/mcp", "any", "-"]])
    widths = {len(line) for line in lines if line[:1] in "┏┃┡│└"}
    assert widths == {61}  # each column as wide as its widest cell or header, no padding out
