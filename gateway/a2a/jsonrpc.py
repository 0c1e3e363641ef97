"""A2A's JSON-RPC binding, as far as a proxy needs it: which method a request names, which methods
stream, where an answer names its task, and the error objects the gateway answers with itself.

Both protocol generations are recognised: A2A 1.0 (`SendMessage`, `SendStreamingMessage`, ...,
results in protobuf JSON: `{"task": {...}}`, `{"statusUpdate": {...}}`) and 0.3 (`message/send`,
`message/stream`, ..., results tagged with `kind`). Bodies pass through unchanged: the gateway reads
them, it never rewrites them. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# Methods that answer with an SSE stream (1.0 and 0.3 names).
STREAMING_METHODS = frozenset(
    {"SendStreamingMessage", "SubscribeToTask", "message/stream", "tasks/resubscribe"}
)
# Methods that start or continue a task: these are what an agent's price per task is charged for.
TASK_METHODS = frozenset({"SendMessage", "SendStreamingMessage", "message/send", "message/stream"})
MAX_METHOD_CHARS = 64  # a longer "method" is nobody's: it is refused
# Every method of both generations: a metric label is one of these or "other" (bounded labels).
KNOWN_METHODS = frozenset(
    {
        "SendMessage",
        "SendStreamingMessage",
        "GetTask",
        "ListTasks",
        "CancelTask",
        "SubscribeToTask",
        "CreateTaskPushNotificationConfig",
        "GetTaskPushNotificationConfig",
        "ListTaskPushNotificationConfigs",
        "DeleteTaskPushNotificationConfig",
        "GetExtendedAgentCard",
        "message/send",
        "message/stream",
        "tasks/get",
        "tasks/cancel",
        "tasks/resubscribe",
        "tasks/pushNotificationConfig/set",
        "tasks/pushNotificationConfig/get",
        "tasks/pushNotificationConfig/list",
        "tasks/pushNotificationConfig/delete",
        "agent/getAuthenticatedExtendedCard",
    }
)

# JSON-RPC 2.0 codes, and the gateway's own in the implementation-defined range. A2A itself uses
# -32001..-32009 (TaskNotFound ... VersionNotSupported), so the gateway's start at -32050.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
UNAUTHENTICATED = -32050
AGENT_NOT_FOUND = -32051
RATE_LIMITED = -32052
AGENT_UNAVAILABLE = -32053
AGENT_BAD_RESPONSE = -32054


class RpcError(Exception):
    """A request the gateway answers itself, before (or instead of) the agent."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        word: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of the answer
        self.code = code  # the JSON-RPC error code in its body
        self.message = message
        self.word = word  # the audit record's error_code
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class RpcRequest:
    """What the gateway needs to know of a request it forwards."""

    id: Any  # str | int | None, echoed in the gateway's own error answers
    method: str
    params: dict[str, Any]

    @property
    def streaming(self) -> bool:
        return self.method in STREAMING_METHODS

    @property
    def starts_task(self) -> bool:
        return self.method in TASK_METHODS

    @property
    def label(self) -> str:
        """The method as a metric label: a known name, else "other"."""
        return self.method if self.method in KNOWN_METHODS else "other"

    def task_id(self) -> str | None:
        """The task a request names (GetTask/CancelTask/SubscribeToTask: `id`; a follow-up
        message: `message.taskId`)."""
        direct = self.params.get("id")
        if isinstance(direct, str) and not self.starts_task:
            return direct
        message = self.params.get("message")
        if isinstance(message, dict):
            return _str(message.get("taskId"))
        return _str(self.params.get("taskId"))


class _NotJson:
    """What `load` returns for a body that is not JSON (an error, reported once authenticated)."""


NOT_JSON = _NotJson()


def load(body: bytes) -> object:
    """The body parsed once (NOT_JSON when it is not JSON)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return NOT_JSON


def peek_id(data: object) -> Any:
    """The request's id, best effort (for an error answered before the request is checked)."""
    found = data.get("id") if isinstance(data, dict) else None
    return found if isinstance(found, str | int) and not isinstance(found, bool) else None


def parse_request(data: object) -> RpcRequest:
    """One JSON-RPC 2.0 request object (from `load`); raises RpcError (400) otherwise. Batches
    are refused, as the A2A SDK refuses them."""
    if data is NOT_JSON:
        raise RpcError(400, PARSE_ERROR, "parse error: the body is not JSON", word="parse_error")
    if not isinstance(data, dict):
        raise RpcError(
            400,
            INVALID_REQUEST,
            "invalid request: expected one JSON-RPC request object (batches are not supported)",
            word="invalid_request",
        )
    request_id = data.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int | None):
        request_id = None
    method = data.get("method")
    if data.get("jsonrpc") != "2.0" or not isinstance(method, str) or not method:
        raise RpcError(
            400,
            INVALID_REQUEST,
            "invalid request: 'jsonrpc' must be '2.0' and 'method' a string",
            word="invalid_request",
        )
    if len(method) > MAX_METHOD_CHARS:
        raise RpcError(
            400, INVALID_REQUEST, "invalid request: unknown method", word="invalid_request"
        )
    params = data.get("params")
    return RpcRequest(request_id, method, params if isinstance(params, dict) else {})


def error_body(request_id: Any, code: int, message: str, data: Any = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": request_id, "error": error})


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _object_task_id(result: dict[str, Any]) -> str | None:
    """A 0.3 result: a Task (`kind: task`, `id`) or an event or message (`taskId`)."""
    if result.get("kind") == "task":
        return _str(result.get("id"))
    return _str(result.get("taskId"))


def result_task_id(answer: Any) -> str | None:
    """The task id an answer (a JSON-RPC response, or one streamed event's) names, if any."""
    if not isinstance(answer, dict):
        return None
    result = answer.get("result")
    if not isinstance(result, dict):
        return None
    # 1.0: SendMessageResponse / StreamResponse wrap the payload in a oneof field
    task = result.get("task")
    if isinstance(task, dict):
        return _str(task.get("id"))
    for field in ("statusUpdate", "artifactUpdate", "message"):
        inner = result.get(field)
        if isinstance(inner, dict):
            return _str(inner.get("taskId"))
    # 1.0 GetTask / CancelTask answer a bare Task: an id and a status
    if "status" in result and "kind" not in result:
        return _str(result.get("id"))
    return _object_task_id(result)


def answer_error(answer: Any) -> tuple[int, str] | None:
    """(code, message) of a JSON-RPC error answer, else None."""
    if not isinstance(answer, dict):
        return None
    error = answer.get("error")
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    message = error.get("message")
    return (code if isinstance(code, int) else 0, message if isinstance(message, str) else "")
