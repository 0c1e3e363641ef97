"""`sfctl cache warm`: send a file of prompts through the gateway's proxy so that later callers
find their answers cached (the seeds recommend pre-warming before traffic arrives).

The file is read line by line: a line starting with "{" is JSON (`{"prompt": ...}` or a whole
chat body with `messages`), any other non-blank line is a prompt. A line that cannot be a request
is reported with its number and skipped; the others are sent, non-streamed, to
`/v1/chat/completions` and the `x-smartflow-cache` header of each answer says whether it was
already cached. A request repeated in the file waits for its first copy to be answered, so the
copy shows as cached whatever the concurrency. A refused key or an unreachable gateway stops
the run (every other request would fail the same way). The key is never printed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from sfctl import local_record
from sfctl.errors import SfctlError, UsageError

CHAT = "/v1/chat/completions"
HEADER = "x-smartflow-cache"
PROMPT_FIELDS = frozenset({"prompt", "model"})
Outcome = Literal["cached", "stored", "not cached", "failed"]


@dataclass(frozen=True, slots=True)
class WarmRequest:
    line: int
    body: dict[str, Any]
    label: str  # what the request asks, for the report


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class WarmResult:
    line: int
    label: str
    cache: str | None  # the x-smartflow-cache header: miss, hit-exact, hit-semantic, bypass
    status: int | None  # None: no answer (timeout, dropped connection)
    error: str | None = None

    @property
    def outcome(self) -> Outcome:
        """`stored` means looked up and missed: the answer is stored unless a no-store rule
        (a cut-off answer, a refusal, ...) applied, which `sfctl cache stats` counts."""
        if self.error is not None or self.status != 200:
            return "failed"
        if self.cache is not None and self.cache.startswith("hit"):
            return "cached"
        if self.cache == "miss":
            return "stored"
        return "not cached"

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "outcome": self.outcome,
            "cache": self.cache,
            "status": self.status,
            "error": self.error,
        }


# --- reading the file (pure) -----------------------------------------------------------------


def read_requests(path: Path, model: str) -> tuple[list[WarmRequest], list[BadLine]]:
    """The file's requests and its bad lines; a missing, unreadable or empty file is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a file of prompts") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text (one prompt or JSON request a line)") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    requests, bad = parse_lines(text, model)
    if not requests and not bad:
        raise UsageError(f"{path} has no prompts: write one prompt or JSON request a line")
    return requests, bad


def parse_lines(text: str, model: str) -> tuple[list[WarmRequest], list[BadLine]]:
    """Blank lines are skipped silently; numbering is the file's, from 1."""
    requests: list[WarmRequest] = []
    bad: list[BadLine] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        try:
            body = _json_request(line, model) if line.startswith("{") else _prompt(line, model)
        except ValueError as exc:
            bad.append(BadLine(number, str(exc)))
            continue
        requests.append(WarmRequest(number, body, _label(body)))
    return requests, bad


def _prompt(text: str, model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], "stream": False}


def _json_request(line: str, model: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ValueError("a JSON line must be an object")
    if "messages" in value:
        return _chat_body(value, model)
    if "prompt" in value:
        unknown = sorted(set(value) - PROMPT_FIELDS)
        if unknown:
            raise ValueError(f'unknown field {unknown[0]!r} beside "prompt" (use "messages")')
        prompt = value["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError('"prompt" must be a non-empty string')
        return _prompt(prompt, _model(value, model))
    raise ValueError('a JSON line needs "prompt" or "messages"')


def _chat_body(value: dict[str, Any], model: str) -> dict[str, Any]:
    messages = value["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError('"messages" must be a non-empty list')
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError(f'"messages"[{i}] must be an object with a "role"')
    body = {**value, "model": _model(value, model), "stream": False}
    body.pop("stream_options", None)  # only allowed with stream: true
    return body


def _model(value: Mapping[str, Any], default: str) -> str:
    model = value.get("model", default)
    if not isinstance(model, str) or not model.strip():
        raise ValueError('"model" must be a non-empty string')
    return model


def _label(body: Mapping[str, Any]) -> str:
    """The last message's text, on one line."""
    content = body["messages"][-1].get("content")
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        content = " ".join(str(p) for p in parts if p)
    return " ".join(str(content or "").split())


# --- where to send ---------------------------------------------------------------------------


def resolve_proxy(url: str | None, data_dir: Path) -> str:
    """--url (or $SF_BASE, as `sfctl bench`), else the gateway `sfctl up` runs (one process
    serves the proxy and the management API)."""
    if url is None:
        gateway = local_record.read(data_dir)
        if gateway is None:
            raise UsageError(
                f"no gateway to send to: no `sfctl up` is running with data directory "
                f"{data_dir}; start one (`sfctl up --detach`), pass --url or set SF_BASE"
            )
        url = gateway.url
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {url!r} must start with http:// or https://")
    url = url.rstrip("/")
    return url.removesuffix("/v1")


# --- sending ---------------------------------------------------------------------------------


async def warm(
    requests: Sequence[WarmRequest],
    *,
    url: str,
    key: str,
    concurrency: int,
    request_timeout_s: float,
    on_result: Callable[[WarmResult], None],
) -> list[WarmResult]:
    """Results in the file's order. `concurrency` requests are in flight at most."""
    first: dict[str, asyncio.Event] = {}  # a request's canonical body -> its first copy answered
    waits: list[asyncio.Event | None] = []  # None: the first copy, else the event it waits for
    answered: list[asyncio.Event] = []
    for request in requests:
        canonical = json.dumps(request.body, sort_keys=True, separators=(",", ":"))
        waits.append(first.get(canonical))
        answered.append(first.setdefault(canonical, asyncio.Event()))
    results: list[WarmResult | None] = [None] * len(requests)
    queue = iter(range(len(requests)))
    fatal: list[SfctlError] = []
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "sfctl"}

    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=request_timeout_s
    ) as client:

        async def worker() -> None:
            for i in queue:
                if fatal:
                    return
                request, wait = requests[i], waits[i]
                try:
                    if wait is not None:
                        await wait.wait()
                        if fatal:
                            return
                    result = await _send(client, request)
                except SfctlError as exc:
                    fatal.append(exc)
                    return
                finally:
                    if wait is None:
                        answered[i].set()
                results[i] = result
                on_result(result)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    if fatal:
        raise fatal[0]
    return [r for r in results if r is not None]


async def _send(client: httpx.AsyncClient, request: WarmRequest) -> WarmResult:
    try:
        response = await client.post(CHAT, json=request.body)
    except httpx.ConnectError as exc:
        raise SfctlError(f"cannot reach the gateway at {client.base_url}: {_reason(exc)}") from None
    except httpx.TimeoutException:
        return WarmResult(request.line, request.label, None, None, "no answer in time")
    except httpx.HTTPError as exc:
        return WarmResult(request.line, request.label, None, None, _reason(exc))
    cache = response.headers.get(HEADER)
    if response.status_code == 401:
        raise SfctlError(f"the gateway refused the key (401): {_message(response)}")
    if response.is_error:
        error = f"{_message(response)} (HTTP {response.status_code})"
        return WarmResult(request.line, request.label, cache, response.status_code, error)
    return WarmResult(request.line, request.label, cache, response.status_code)


def _reason(exc: httpx.HTTPError) -> str:
    return _one_line(str(exc)) or type(exc).__name__


def _message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        message = payload["error"].get("message")
        if message:
            return _one_line(str(message))
    return _one_line(response.text) or response.reason_phrase


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def summary(results: Sequence[WarmResult], bad: Sequence[BadLine]) -> dict[str, int]:
    counts = {outcome: 0 for outcome in ("cached", "stored", "not cached", "failed")}
    for result in results:
        counts[result.outcome] += 1
    return {
        "sent": len(results),
        "already_cached": counts["cached"],
        "newly_stored": counts["stored"],
        "not_cacheable": counts["not cached"],
        "failed": counts["failed"],
        "bad_lines": len(bad),
    }
