"""The gateway's one error tree.

Every failure a client can see is a `GatewayError`. The pipeline maps it to a response in one place
(`gateway.pipeline.errors`), in the wire format of the route that was called: OpenAI's error JSON on
`/v1`, Anthropic's on `/anthropic`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class GatewayError(Exception):
    """Root of every error the gateway reports to a client."""

    status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "api_error"
    anthropic_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        self.headers: dict[str, str] = dict(headers or {})


class InvalidRequest(GatewayError):
    status = 400
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    openai_type = "permission_error"
    anthropic_type = "permission_error"


class PolicyViolation(PermissionDenied):
    """A guardrail policy refused the request or its response (the message is the policy's)."""

    default_code = "policy_violation"


class NotFound(GatewayError):
    status = 404
    openai_type = "invalid_request_error"
    anthropic_type = "not_found_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"
    default_code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamUnavailable(GatewayError):
    """The upstream could not be reached or kept failing after retries and fallbacks."""

    status = 502
    openai_type = "api_error"
    anthropic_type = "api_error"
    default_code = "upstream_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    openai_type = "api_error"
    anthropic_type = "timeout_error"
    default_code = "upstream_timeout"


class ServiceUnavailable(GatewayError):
    status = 503
    openai_type = "api_error"
    anthropic_type = "overloaded_error"
    default_code = "service_unavailable"


class ComplianceTimeout(ServiceUnavailable):
    """The compliance scan outlasted COMPLIANCE_TIMEOUT_SECS and the policy fails closed."""

    default_code = "compliance_timeout"


class UpstreamRejected(GatewayError):
    """The upstream answered with a client error (4xx) that retrying cannot fix.

    Its status is passed through to the caller, with the upstream's message.
    """

    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"

    def __init__(self, upstream_status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.upstream_status = upstream_status


def status_of(error: GatewayError) -> int:
    """The HTTP status to answer with (an upstream rejection keeps the upstream's status)."""
    if isinstance(error, UpstreamRejected):
        return error.upstream_status
    return error.status


def openai_error_body(error: GatewayError) -> dict[str, Any]:
    """OpenAI's error JSON: {"error": {"message", "type", "param", "code"}}."""
    return {
        "error": {
            "message": error.message,
            "type": error.openai_type,
            "param": error.param,
            "code": error.code,
        }
    }


def anthropic_error_body(error: GatewayError) -> dict[str, Any]:
    """Anthropic's error JSON: {"type": "error", "error": {"type", "message"}}."""
    return {"type": "error", "error": {"type": error.anthropic_type, "message": error.message}}
