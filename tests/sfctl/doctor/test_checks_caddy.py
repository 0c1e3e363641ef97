"""caddy-trailing-slash-wildcard on what `sfctl render` writes (clean), on hand-broken copies of
it, on the guide's own Caddyfile and on every matcher form."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfctl.doctor.checks.caddy import caddy_trailing_slash_wildcard
from sfctl.doctor.collect_caddy import collect_caddyfile
from sfctl.doctor.model import Finding, ObjectRef, Severity
from sfctl.render import targets
from sfctl.spec import Spec, parse_spec

FIXTURES = Path(__file__).parent / "fixtures" / "caddy"
SPEC = "domain: smartflow.example.com\nacme_email: ops@example.com\n"


def render_caddyfiles(spec: Spec, out: Path) -> list[Path]:
    """The bare-metal Caddyfile (`render caddy`) and the one Compose mounts (`render compose`)."""
    written = targets()["caddy"](spec, out / "caddy") + targets()["compose"](spec, out / "compose")
    return [path for path in written if path.name == "Caddyfile"]


def findings(path: Path) -> list[Finding]:
    return list(caddy_trailing_slash_wildcard(collect_caddyfile(path)))


def line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "management:\n  expose: true\n  allowed_sources: [203.0.113.0/24]\n",
        "management:\n  expose: true\n  basic_auth_user: ops\ntls:\n  enabled: false\n",
    ],
)
def test_rendered_caddyfiles_are_clean(tmp_path: Path, extra: str) -> None:
    paths = render_caddyfiles(parse_spec(SPEC + extra), tmp_path)
    assert len(paths) == 2
    for path in paths:
        inventory = collect_caddyfile(path)
        assert inventory.notes == []  # and the real Caddy loads it
        assert list(caddy_trailing_slash_wildcard(inventory)) == []


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ("handle /api/enterprise* {", "handle /api/enterprise/* {"),
        ("handle /api/compliance* {", "handle /api/compliance/* {"),
        ("handle /api/mcp/tools* {", "handle /api/mcp/tools/* {"),
    ],
)
def test_hand_broken_rendered_caddyfile_is_found(tmp_path: Path, good: str, bad: str) -> None:
    spec = parse_spec(SPEC + "management:\n  expose: true\n  allowed_sources: [10.0.0.0/8]\n")
    path = render_caddyfiles(spec, tmp_path)[0]
    text = path.read_text()
    assert text.count(good) == 1
    path.write_text(text.replace(good, bad))
    bare = bad.split()[1].removesuffix("/*")
    [finding] = findings(path)
    assert finding.check == "caddy-trailing-slash-wildcard"
    assert finding.severity is Severity.ERROR
    assert finding.object == ObjectRef("CaddyRoute", "smartflow.example.com")
    assert finding.message.startswith(f"{path}:{line_of(path, bad)}: `handle {bare}/*`")
    assert f"write `handle {bare}*`" in finding.message


def test_the_guides_own_caddyfile_misses_bare_api_mcp() -> None:
    """The guide's table uses /api/mcp/* for the proxy's MCP routes; /v1/*, /anthropic/* and the
    other data-plane prefixes have no endpoint at the bare path and are not findings."""
    path = FIXTURES / "guide.Caddyfile"
    [finding] = findings(path)
    assert finding.object == ObjectRef("CaddyRoute", "your-host.example.com")
    assert finding.message == (
        f"{path}:8: `handle /api/mcp/*` does not match /api/mcp itself, so requests to "
        "/api/mcp fall through to another route; write `handle /api/mcp*`"
    )


def test_every_matcher_form_is_read() -> None:
    path = FIXTURES / "constructs.Caddyfile"
    site = "smartflow.example.com, www.smartflow.example.com"
    got = [
        (f.object.name, f.message.split(": ", 1)[0], f.message.split("`")[1])
        for f in findings(path)
    ]
    assert got == [
        ("(guarded)", f"{path}:17", "@private path /api/admin/keys/*"),
        (site, f"{path}:24", "@vkeys path /api/enterprise/vkeys/*"),
        (site, f"{path}:25", "@vkeys not path /api/enterprise/vkeys/internal/*"),
        (site, f"{path}:34", "handle_path /api/policies/*"),
        (site, f"{path}:37", "reverse_proxy /api/routing/*"),
        (site, f"{path}:38", "header /api/metacache/*"),
        (site, f"{path}:39", "route /api/guardrails/*"),
    ]
    messages = {f.message.split("`")[1]: f.message for f in findings(path)}
    assert "are not excluded" in messages["@vkeys not path /api/enterprise/vkeys/internal/*"]
    assert "`header` does not apply to /api/metacache" in messages["header /api/metacache/*"]


def test_braceless_site_is_checked() -> None:
    path = FIXTURES / "braceless.Caddyfile"
    [finding] = findings(path)
    assert finding.object.name == "smartflow.internal:8443"
    assert finding.message.startswith(f"{path}:5: `handle /api/health/*`")


@pytest.mark.parametrize(
    "line",
    [
        "reverse_proxy /api/foo* localhost:7778",  # the bare wildcard: right
        "reverse_proxy /api/* localhost:7778",  # /api itself is no endpoint
        "reverse_proxy /static/* localhost:8080",  # not a Smartflow namespace
        "reverse_proxy /api/keys/*/budget localhost:7778",  # a wildcard inside: another matter
        "# reverse_proxy /api/foo/* localhost:7778",  # a comment
        "header X-Route /api/foo/*",  # a value, not in a matcher position
        "root /srv/api/foo/*",  # root's one argument is its path, not a matcher
    ],
)
def test_not_findings(tmp_path: Path, line: str) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(f"example.com {{\n\t{line}\n}}\n")
    assert findings(path) == []


def test_unreadable_text_from_a_dump_is_a_finding() -> None:
    """Caddyfiles can also arrive from saved dumps, unparsed: the check reports, never crashes."""
    from sfctl.doctor.model import Inventory

    inventory = Inventory(caddyfiles=[("dump/Caddyfile", "example.com {\n\thandle {\n")])
    [finding] = caddy_trailing_slash_wildcard(inventory)
    assert finding.object == ObjectRef("Caddyfile", "dump/Caddyfile")
    assert "a '}' is missing" in finding.message
