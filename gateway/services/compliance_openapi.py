"""OpenAPI path items of the compliance routes (gateway.services.compliance); the request bodies
are the component schemas of the pydantic models the handlers validate with."""

from __future__ import annotations

from typing import Any

from gateway.services.openapi import errors, json_body, json_response, ref

BASE = "/api/compliance"
ORG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"
THRESHOLD_KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$"

_FINDING = {
    "type": "object",
    "required": ["type", "start", "end", "confidence", "rule", "scanner"],
    "properties": {
        "type": {"type": "string"},
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 0},
        "confidence": {"type": "number"},
        "rule": {"type": "string"},
        "scanner": {"type": "string", "enum": ["pii", "secrets", "injection", "terms"]},
    },
}
_SCAN_RESULT = {
    "type": "object",
    "required": ["findings", "verdict", "counts", "scan_ms"],
    "properties": {
        "findings": {"type": "array", "items": _FINDING},
        "verdict": {
            "type": "string",
            "enum": ["pass", "flag"],
            "description": "flag: a finding at confidence 0.5 or more",
        },
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "scan_ms": {"type": "number"},
    },
}
_NUMBERS = {"type": "object", "additionalProperties": {"type": "number"}}
_BASELINE = {
    "type": "object",
    "required": ["org", "allowed_count", "thresholds", "manual_thresholds", "feedback"],
    "properties": {
        "org": {"type": "string"},
        "allowed_count": {
            "type": "integer",
            "description": "values marked false positive (stored as HMAC digests only)",
        },
        "thresholds": {**_NUMBERS, "description": "effective: learned, then manual overrides"},
        "manual_thresholds": _NUMBERS,
        "feedback": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}
_TIMEOUT = json_response(
    "The scan took longer than COMPLIANCE_TIMEOUT_SECS (code scan_timeout)", ref("Error")
)
_ORG_PARAMETER = {
    "name": "org",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ORG_PATTERN},
}

OPENAPI_PATHS: dict[str, Any] = {
    BASE + "/scan": {
        "post": {
            "operationId": "complianceScan",
            "summary": "Scan a text: findings by type and span, never the matched text",
            "tags": ["compliance"],
            "requestBody": json_body(ref("ComplianceScanRequest")),
            "responses": {
                "200": json_response("The findings", _SCAN_RESULT),
                **errors("400", "413", "503"),
                "504": _TIMEOUT,
            },
        }
    },
    BASE + "/feedback": {
        "post": {
            "operationId": "complianceFeedback",
            "summary": "Mark a finding false or true positive for an organisation",
            "description": (
                "The text is scanned again with every scanner; 404 (code no_such_finding) when "
                "no finding of `type` spans exactly `start`..`end`. Only an HMAC digest of the "
                "value is stored."
            ),
            "tags": ["compliance"],
            "requestBody": json_body(ref("ComplianceFeedbackRequest")),
            "responses": {
                "200": json_response("The organisation's baseline now", _BASELINE),
                **errors("400", "404", "413", "503"),
                "504": _TIMEOUT,
            },
        }
    },
    BASE + "/baselines/{org}": {
        "get": {
            "operationId": "getComplianceBaseline",
            "summary": "An organisation's baseline: allow-list size, thresholds, feedback counts",
            "tags": ["compliance"],
            "parameters": [_ORG_PARAMETER],
            "responses": {
                "200": json_response("The baseline", _BASELINE),
                **errors("400", "503"),
            },
        }
    },
    BASE + "/baselines/{org}/thresholds": {
        "put": {
            "operationId": "putComplianceThresholds",
            "summary": "Replace the organisation's manual confidence thresholds",
            "tags": ["compliance"],
            "parameters": [_ORG_PARAMETER],
            "requestBody": json_body(ref("ComplianceThresholds")),
            "responses": {
                "200": json_response("The baseline", _BASELINE),
                **errors("400", "413", "503"),
            },
        }
    },
}
