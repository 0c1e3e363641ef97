"""Test modules are imported by basename (rootdir-relative, no packages): two files with the same
name in different folders stop the whole collection. Caught here with the file names, early."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_every_test_module_has_a_unique_file_name() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    clashes = {name: count for name, count in names.items() if count > 1}
    assert not clashes, f"rename one of each: {clashes}"
