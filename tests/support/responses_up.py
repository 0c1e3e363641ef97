"""A foreground `sfctl up` (the built-in mock provider) with two virtual keys, for the tests that
drive /v1/responses with the official clients: the keys are what applications use, and a second
key shows that a stored response is readable by the key that created it and no other."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.local_up import clean_env, foreground_up
from support.procs import free_port


@dataclass(frozen=True)
class ResponsesGateway:
    url: str
    key: str  # the key most tests use
    other_key: str  # another application's key on the same gateway


def create_key_record(data_dir: Path, name: str, *options: str) -> dict[str, Any]:
    """`sfctl keys create` as an operator runs it: the created key's record (its secret too)."""
    command = ["keys", "create", "--name", name, *options, "-o", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "sfctl", *command, "--data-dir", str(data_dir)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert isinstance(record, dict) and str(record["key"]).startswith("sk-sf-")
    return record


def create_key(data_dir: Path, name: str) -> str:
    """A key whose response cache is off, so that every request reaches the mock provider and
    no answer depends on what an earlier test asked."""
    return str(create_key_record(data_dir, name, "--cache", "off")["key"])


@contextmanager
def responses_gateway(data_dir: Path) -> Iterator[ResponsesGateway]:
    with foreground_up(data_dir, free_port()) as up:
        yield ResponsesGateway(
            url=up.url,
            key=create_key(data_dir, "responses-app"),
            other_key=create_key(data_dir, "other-app"),
        )
