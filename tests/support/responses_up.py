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

from support.local_up import clean_env, foreground_up
from support.procs import free_port


@dataclass(frozen=True)
class ResponsesGateway:
    url: str
    key: str  # the key most tests use
    other_key: str  # another application's key on the same gateway


def create_key(data_dir: Path, name: str) -> str:
    """`sfctl keys create` as an operator runs it; the response cache is off so that every request
    reaches the mock provider and no answer depends on what an earlier test asked."""
    command = ["keys", "create", "--name", name, "--cache", "off", "-o", "json"]
    result = subprocess.run(
        [sys.executable, "-m", "sfctl", *command, "--data-dir", str(data_dir)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    secret = json.loads(result.stdout)["key"]
    assert isinstance(secret, str) and secret.startswith("sk-sf-")
    return secret


@contextmanager
def responses_gateway(data_dir: Path) -> Iterator[ResponsesGateway]:
    with foreground_up(data_dir, free_port()) as up:
        yield ResponsesGateway(
            url=up.url,
            key=create_key(data_dir, "responses-app"),
            other_key=create_key(data_dir, "other-app"),
        )
