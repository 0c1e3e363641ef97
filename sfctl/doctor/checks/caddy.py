"""Caddy checks, on the Caddyfile text as written (so findings carry its line numbers)."""

from __future__ import annotations

from collections.abc import Iterator

from sfctl.doctor.collect_caddy import Block, Directive, Token, parse_caddyfile
from sfctl.doctor.model import Finding, Inventory, ObjectRef, Severity, check
from sfctl.errors import SfctlError

__all__ = ["path_matchers"]

#: the standard directives whose first argument may be a matcher (`directive [<matcher>] ...`)
_MATCHER_DIRECTIVES = frozenset(
    {
        "abort", "basic_auth", "basicauth", "copy_response", "copy_response_headers", "encode",
        "error", "file_server", "forward_auth", "fs", "handle", "handle_path", "header",
        "intercept", "invoke", "log_append", "log_skip", "map", "method", "metrics",
        "php_fastcgi", "push", "redir", "request_body", "request_header", "respond",
        "reverse_proxy", "rewrite", "route", "skip_log", "templates", "tracing", "try_files",
        "uri", "vars",
    }
)  # fmt: skip
_ROUTING = frozenset({"handle", "handle_path", "route", "reverse_proxy", "redir", "rewrite"})
#: where Smartflow serves collections at the bare path (/api/enterprise/vkeys, /api/guardrails,
#: /api/policies, /api/compliance, ...), so a route's matcher must match it without a slash
_BARE_PATH_NAMESPACE = "/api/"


def path_matchers(block: Block) -> Iterator[tuple[Directive, str, Token]]:
    """(directive, how it is written, path token) for every path matcher in a block: inline
    matchers (`handle /x/*`), and `path` in named matcher definitions (`@x path /x/*`,
    `@x { path /x/* }`, `not path /x/*`)."""
    for top in block.directives:
        for directive in top.walk():
            if directive.name.startswith("@"):
                yield from _named(directive)
                continue
            args = directive.args
            takes_matcher = directive.name in _MATCHER_DIRECTIVES or (
                directive.name == "root" and len(args) >= 2
            )
            if takes_matcher and args and args[0].text.startswith("/"):
                yield directive, directive.name, args[0]


def _named(definition: Directive) -> Iterator[tuple[Directive, str, Token]]:
    yield from _matcher_paths(definition.name, definition, definition.tokens[1:], negated=False)


def _matcher_paths(
    label: str, line: Directive, words: list[Token], *, negated: bool
) -> Iterator[tuple[Directive, str, Token]]:
    if words[:1] and words[0].text == "not":
        words, negated = words[1:], True
    if words[:1] and words[0].text == "path":
        written = f"{label} not path" if negated else f"{label} path"
        for token in words[1:]:
            yield line, written, token
    for child in line.block:
        yield from _matcher_paths(label, child, child.tokens, negated=negated)


def _misses_bare_path(path: str) -> str | None:
    """The bare path `/api/foo/*` misses (`/api/foo`), or None when the matcher is fine."""
    if not path.endswith("/*"):
        return None
    bare = path[:-2]
    if not bare.startswith(_BARE_PATH_NAMESPACE) or "*" in bare:
        return None
    return bare


def _consequence(written: str, bare: str) -> str:
    if " not path" in written:
        return f"requests to {bare} are not excluded"
    if written.startswith("@") or written in _ROUTING:
        return f"requests to {bare} fall through to another route"
    return f"`{written}` does not apply to {bare}"


@check(
    "caddy-trailing-slash-wildcard",
    Severity.ERROR,
    groups={"caddy"},
    summary="a Caddy path matcher /api/foo/* that misses /api/foo itself (write /api/foo*)",
)
def caddy_trailing_slash_wildcard(inventory: Inventory) -> Iterator[Finding]:
    """`handle /api/foo/*` matches `/api/foo/bar` but not `/api/foo`: the slash before `*` is
    part of the prefix. Smartflow serves collections at the bare path under /api/ (list and
    create keys at /api/enterprise/vkeys, /api/guardrails, /api/policies, ...), so such a
    request falls through to another route (the guide's catch-all is the chat UI). The guide:
    "use bare wildcard paths, not trailing-slash wildcards". Data-plane prefixes (/v1/*,
    /anthropic/*, /.well-known/*) have no endpoint at the bare path and are left alone."""
    for source, text in inventory.caddyfiles:
        try:
            blocks = parse_caddyfile(text)
        except SfctlError as exc:
            yield Finding(
                "caddy-trailing-slash-wildcard",
                Severity.ERROR,
                ObjectRef("Caddyfile", source),
                f"{source}: cannot read the Caddyfile ({exc}), so its routes were not checked",
            )
            continue
        for block in blocks:
            if block.kind not in ("site", "snippet", "route"):
                continue
            for _directive, written, token in path_matchers(block):
                bare = _misses_bare_path(token.text)
                if bare is None:
                    continue
                problem = f"{source}:{token.line}: `{written} {token.text}` does not match {bare}"
                yield Finding(
                    "caddy-trailing-slash-wildcard",
                    Severity.ERROR,
                    ObjectRef("CaddyRoute", block.label),
                    f"{problem} itself, so {_consequence(written, bare)}; write "
                    f"`{written} {bare}*`",
                    headline=f"{problem} itself",
                )
