"""The values of an upgrade: the installed revision's, changed only where asked (`--image-tag`,
`--set` in Helm's own syntax, parsed by Helm's own parser). The result is passed whole, so the
new chart's defaults apply to everything not set (Helm's `--reset-then-reuse-values`, not the
`--reuse-values` that silently drops new chart defaults)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from sfctl.errors import UsageError


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`, maps merged key by key (lists and scalars replaced), as Helm
    merges values files."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_sets(expressions: Sequence[str]) -> dict[str, Any]:
    """`--set` expressions, each through Helm's parser; a malformed one is a usage error."""
    import helm_python

    parsed: dict[str, Any] = {}
    for expression in expressions:
        if "=" not in expression:
            raise UsageError(f"--set {expression!r}: expected key=value")
        try:
            one = helm_python.parse_set_string(expression)
        except helm_python.HelmError as exc:
            raise UsageError(f"--set {expression!r}: {exc}") from None
        if not one:  # Helm's parser drops what it cannot read instead of failing
            raise UsageError(f"--set {expression!r}: not a key=value Helm can read")
        parsed = deep_merge(parsed, one)
    return parsed


def merged_values(
    installed: Mapping[str, Any], image_tag: str | None, sets: Sequence[str]
) -> dict[str, Any]:
    values = deep_merge(installed, parse_sets(sets))
    if image_tag is not None:
        if not image_tag or any(c in image_tag for c in " /:@"):
            raise UsageError(
                f"--image-tag {image_tag!r}: a tag is a name like 1.4.0, not a reference"
            )
        values = deep_merge(values, {"image": {"tag": image_tag}})
    return values
