"""Constant load through the official `openai` SDK while something else happens (a rollout):
`rate` requests a second, every `stream_every`-th a stream, each failure kept with its reason.
A stream counts only when it ends with a finish_reason: a stream cut mid-way is a failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import openai


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    streams_ok: int = 0
    failures: list[str] = field(default_factory=list)
    stream_seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def summary(self) -> str:
        longest = max(self.stream_seconds, default=0.0)
        shortest = min(self.stream_seconds, default=0.0)
        return (
            f"{self.sent} requests, {self.ok} ok ({self.streams_ok} streams of "
            f"{shortest:.1f}-{longest:.1f} s), {len(self.failures)} failed"
        )


class SteadyLoad:
    """Start with `start()`, stop with `stop()` (waits for every request in flight)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        rate: float,
        stream_every: int,
        prompts: Callable[[int], tuple[str, bool]],
        model: str,
    ) -> None:
        self.result = LoadResult()
        self._rate = rate
        self._every = stream_every
        self._prompts = prompts
        self._model = model
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,
            timeout=30.0,
        )
        self._pool = ThreadPoolExecutor(max_workers=120)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def start(self) -> SteadyLoad:
        self._ticker.start()
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        self._ticker.join()
        self._pool.shutdown(wait=True)
        self._client.close()
        return self.result

    def _tick(self) -> None:
        started = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = started + n / self._rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._pool.submit(self._one, n)
            n += 1

    def _one(self, n: int) -> None:
        prompt, stream = self._prompts(n)
        stream = stream and n % self._every == 0
        with self.result.lock:
            self.result.sent += 1
        began = time.monotonic()
        try:
            if stream:
                finished = None
                with self._client.chat.completions.create(
                    model=self._model,
                    messages=[{"role": "user", "content": prompt}],
                    stream=True,
                ) as chunks:
                    for chunk in chunks:
                        if chunk.choices and chunk.choices[0].finish_reason:
                            finished = chunk.choices[0].finish_reason
                if finished is None:
                    raise RuntimeError("the stream ended without a finish_reason (cut)")
            else:
                answer = self._client.chat.completions.create(
                    model=self._model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=4,
                )
                if not answer.choices:
                    raise RuntimeError("no choices in the answer")
        except Exception as exc:
            with self.result.lock:
                self.result.failures.append(f"{'stream' if stream else 'plain'}: {exc!r}"[:300])
            return
        with self.result.lock:
            self.result.ok += 1
            if stream:
                self.result.streams_ok += 1
                self.result.stream_seconds.append(time.monotonic() - began)
