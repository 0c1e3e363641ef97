"""Ask a pod's gateway what build it runs: `smartflow-gateway --version --json` exec'd in the
container through the API (the websocket `kubectl exec` uses), stdout and stderr apart, the
exit code from the error channel's Status. Whatever goes wrong (the pod stopped, RBAC refuses
pods/exec, the command hangs or is not in the image) is an `ExecFailure` with the reason, never
an exception: one unreadable pod is a finding of verify, not the end of it.
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sfctl.deploy.verify import ExecFailure, VersionAnswer
from sfctl.deploy.verify_facts import VERSION_COMMAND, parse_answer
from sfctl.errors import SfctlError
from sfctl.kube.api import INSTALL_HINT, KubeTarget, api_client, one_line
from sfctl.kube.pods import PodView

Answer = VersionAnswer | ExecFailure
#: how long one exec may take before its pod counts as not answering
EXEC_TIMEOUT_S = 30.0
_GRACE_S = 5.0  # beyond the timeout: connecting, and the API server's own answer
_STDOUT, _STDERR, _ERROR = 1, 2, 3  # the exec protocol's channels
_HANDSHAKE = re.compile(r"Handshake status (\d{3})")


def version_answer(
    client: Any, namespace: str, pod: str, container: str, *, timeout: float = EXEC_TIMEOUT_S
) -> VersionAnswer | ExecFailure:
    """What the gateway in `pod`'s `container` says it is, or why it says nothing."""
    try:
        from kubernetes.client import CoreV1Api
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream
    except ImportError:
        return ExecFailure(INSTALL_HINT)
    command = " ".join(VERSION_COMMAND)
    try:
        session = stream(
            CoreV1Api(client).connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=list(VERSION_COMMAND),
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
    except ApiException as exc:
        return ExecFailure(refusal(exc, namespace))
    try:
        session.run_forever(timeout=timeout)
        if session.is_open():
            return ExecFailure(f"`{command}` did not answer in {timeout:.0f} s")
        stdout = str(session.read_channel(_STDOUT))
        stderr = str(session.read_channel(_STDERR))
        error = str(session.read_channel(_ERROR))
    except Exception as exc:  # the websocket library's own errors: a broken stream
        return ExecFailure(f"the exec stream broke: {one_line(str(exc)) or type(exc).__name__}")
    finally:
        session.close()
    code, message = exit_status(error)
    return parse_answer(code, stdout, f"{message}\n{stderr}" if message else stderr)


def version_answers(
    make_client: Callable[[], Any],
    namespace: str,
    targets: Sequence[tuple[str, str]],
    *,
    timeout: float = EXEC_TIMEOUT_S,
    grace: float = _GRACE_S,
) -> list[Answer]:
    """`version_answer` for each (pod, container), all at once, each with a client of its own
    (`kubernetes.stream` swaps the client's request method while it connects). The client sets
    no timeout on the websocket handshake, so an API server that never answers it would hang
    the exec: each runs in a daemon thread, and one still running after `timeout` (and a
    grace) counts as not answering and is left behind."""
    results: dict[int, Answer] = {}

    def one(index: int, pod: str, container: str) -> None:
        try:
            client = make_client()
        except SfctlError as exc:
            results[index] = ExecFailure(str(exc))
            return
        try:
            results[index] = version_answer(client, namespace, pod, container, timeout=timeout)
        finally:
            client.close()

    threads = [
        threading.Thread(target=one, args=(i, *target), name=f"exec {target[0]}", daemon=True)
        for i, target in enumerate(targets)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + grace
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = ExecFailure(f"`{' '.join(VERSION_COMMAND)}` did not answer in {timeout:.0f} s")
    return [results.get(i, late) for i in range(len(targets))]


def exit_status(error: str) -> tuple[int, str]:
    """The exit code and message in the error channel's metav1.Status: `Success`; a
    `NonZeroExitCode` with the code in its causes; or a failure to run the command at all
    (the runtime's message, e.g. `executable file not found`). No Status at all is success,
    as kubectl reads it."""
    if not error.strip():
        return 0, ""
    try:
        status = json.loads(error)
    except ValueError:
        return 1, one_line(error)
    if not isinstance(status, dict):
        return 1, one_line(error)
    if status.get("status") == "Success":
        return 0, ""
    message = str(status.get("message") or "")
    for cause in (status.get("details") or {}).get("causes") or []:
        if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message", "")), message
            except ValueError:
                break
    return (127 if "executable file not found" in message else 1), message


def refusal(exc: Any, namespace: str) -> str:
    """Why the API server would not open the exec: the websocket handshake's HTTP status
    (the client reports it as status 0 with the handshake in the reason) and its message."""
    reason = str(getattr(exc, "reason", "") or "")
    found = _HANDSHAKE.search(reason)
    status = int(found[1]) if found else int(getattr(exc, "status", 0) or 0)
    message = one_line(_status_message(_handshake_body(reason) or str(getattr(exc, "body", ""))))
    if status == 403:
        return (
            f"exec refused (403): the credentials lack RBAC `create` on pods/exec in namespace "
            f"{namespace}" + (f" ({message})" if message else "")
        )
    if status == 401:
        return "exec refused (401): the API server refused the credentials"
    if status == 404:
        return "the pod is gone (404): deleted while verify ran?"
    if status == 0:
        return f"exec failed: no answer from the API server ({one_line(reason, 120)})"
    return f"exec refused ({status}): {message or one_line(reason, 120)}"


def _handshake_body(reason: str) -> str | None:
    """websocket-client's handshake error: `Handshake status 403 Forbidden -+-+- {headers}
    -+-+- <body>`, the body as text (older releases: as a bytes literal)."""
    _, sep, body = reason.rpartition(" -+-+- ")
    if not sep:
        return None
    body = body.strip()
    if not body.startswith(("b'", 'b"')):
        return body
    try:
        raw = ast.literal_eval(body)
    except (ValueError, SyntaxError):
        return None
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None


def _status_message(body: str) -> str:
    """The `message` of a metav1.Status body; '' when it is not one."""
    try:
        status = json.loads(body)
    except ValueError:
        return ""
    return str(status.get("message") or "") if isinstance(status, dict) else ""


def ask_gateways(target: KubeTarget, pods: Sequence[PodView]) -> dict[tuple[str, str], Answer]:
    """Exec `smartflow-gateway --version --json` in every running gateway container."""
    asked = [
        (p.name, c.name)
        for p in pods
        if not p.deleting
        for c in p.containers
        if c.gateway and c.state == "running"
    ]
    answers = version_answers(
        lambda: api_client(target.kubeconfig, target.context), target.namespace, asked
    )
    return dict(zip(asked, answers, strict=True))
