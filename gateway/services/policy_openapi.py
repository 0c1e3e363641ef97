"""OpenAPI path items of the policy routes: the management API (gateway.services.policy_api,
`MANAGEMENT_PATHS`) and the dry run (gateway.services.policy_service, `DRY_RUN_PATHS`).

The bodies are the component schemas of the pydantic models the handlers validate with,
corrected where pydantic's JSON schema says other than what the server checks or accepts: an
action object needs its `type` (the union's tag) but may be the shorthand `"allow"`, `"log"` or
`"redact"` (`Rule._shorthand`); a cache action has exactly one of `namespace` and `bypass: true`
(`Cache._one_of`); a phone region is one the scanner has a format for, in any case
(`national_format`); the dry run's `route` must belong to its `wire`, and its inline `policy`
is a policy document.

What JSON Schema cannot say is stated on the 400 response under `x-semantic-errors`: a body can
match the schema and still be refused, with exactly that error code and `param`: a `when` that is
not a valid condition (`rules[2].when`), two rules of one name (`rules`), a regex that does not
compile or matches the empty string (`patterns[0]`), a blank term (`terms[0].term`), two patterns
of one name (no `param`). The schemathesis test accepts these refusals of generated valid bodies,
and only these.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from gateway.compliance.config import GuardrailConfig
from gateway.compliance.phones import national_format
from gateway.policy.model import Policy
from gateway.policy.store import NAME_MAX, VERSION_MAX
from gateway.services.openapi import (
    SCHEMA_PREFIX,
    JsonSchema,
    errors,
    json_body,
    json_content,
    json_response,
    model_schemas,
    ref,
)
from gateway.services.policy_api import BASE, GUARDRAILS, RollbackBody
from gateway.services.policy_service import ROUTES_BY_WIRE, EvaluateBody, ValidateBody

SEMANTIC_ERRORS = "x-semantic-errors"
POLICY_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"

# pydantic's model names -> the component names in the document (one namespace for every module)
_NAMES = {
    "Policy": "Policy",
    "Rule": "PolicyRule",
    "Binding": "PolicyBinding",
    "Allow": "PolicyActionAllow",
    "Deny": "PolicyActionDeny",
    "Redact": "PolicyActionRedact",
    "Route": "PolicyActionRoute",
    "Cache": "PolicyActionCache",
    "Inspect": "PolicyActionInspect",
    "Log": "PolicyActionLog",
    "GuardrailConfig": "GuardrailConfig",
    "PatternSpec": "GuardrailPattern",
    "TermSpec": "GuardrailTerm",
    "EvaluateBody": "PolicyEvaluateRequest",
    "KeyBody": "PolicyEvaluateKey",
    "ValidateBody": "PolicyValidateRequest",
    "RollbackBody": "PolicyRollbackRequest",
}
SHORTHAND_ACTIONS = ("allow", "log", "redact")  # the action types with no required field
WHEN_DESCRIPTION = (
    "The rule's condition in the policy language (e.g. `findings.count('payment_card') > 0 and "
    "key.team == 'finance'`); left out, it always holds. A condition that does not compile is a "
    "400 `invalid_policy` whose `param` is `rules[N].when`."
)


def _renamed(node: Any) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out[key] = _renamed(value)  # "$ref" values and a discriminator's mapping alike
        return out
    if isinstance(node, list):
        return [_renamed(item) for item in node]
    if isinstance(node, str) and node.startswith(SCHEMA_PREFIX):  # a discriminator's mapping
        return SCHEMA_PREFIX + _NAMES[node.removeprefix(SCHEMA_PREFIX)]
    return node


def _region_pattern() -> str:
    """The phone regions `national_format` accepts (aliases included), in any case."""
    letters = string.ascii_uppercase
    regions = [a + b for a in letters for b in letters if _known_region(a + b)]
    either = "|".join("".join(f"[{c}{c.lower()}]" for c in code) for code in regions)
    return f"^({either})$"


def _known_region(code: str) -> bool:
    try:
        national_format(code)
    except ValueError:
        return False
    return True


def _schemas() -> dict[str, JsonSchema]:
    found = model_schemas(
        (model, "validation")
        for model in (Policy, GuardrailConfig, EvaluateBody, ValidateBody, RollbackBody)
    )
    schemas: dict[str, JsonSchema] = {
        _NAMES[name]: _renamed(schema) for name, schema in found.items()
    }
    for name, schema in schemas.items():
        if name.startswith("PolicyAction"):  # the union's tag: pydantic needs it in a rule
            schema["required"] = ["type", *schema.get("required", ())]
    rule = schemas["PolicyRule"]["properties"]
    rule["when"]["description"] = WHEN_DESCRIPTION
    discriminated = rule["action"]
    rule["action"] = {
        "title": "Action",
        "anyOf": [
            {key: value for key, value in discriminated.items() if key != "title"},
            {
                "type": "string",
                "enum": list(SHORTHAND_ACTIONS),
                "description": "shorthand for an action of this type with its defaults",
            },
        ],
    }
    schemas["Policy"]["properties"]["rules"]["description"] = (
        "In order: the first rule whose condition holds decides. Rule names are unique "
        "(else 400 `invalid_policy`, `param` `rules`)."
    )
    schemas["PolicyActionCache"]["anyOf"] = [
        {
            "required": ["namespace"],
            "properties": {"namespace": {"type": "string"}, "bypass": {"const": False}},
        },
        {
            "required": ["bypass"],
            "properties": {"namespace": {"type": "null"}, "bypass": {"const": True}},
        },
    ]
    guardrails = schemas["GuardrailConfig"]["properties"]
    guardrails["phone_regions"]["items"] = {"type": "string", "pattern": _region_pattern()}
    guardrails["patterns"]["description"] = "pattern names are unique (else 400, no `param`)"
    pattern = schemas["GuardrailPattern"]["properties"]["regex"]
    pattern["description"] = (
        "A Python regular expression that compiles and does not match the empty string "
        "(else 400 `invalid_guardrails`, `param` `patterns[N]`)"
    )
    schemas["GuardrailTerm"]["properties"]["term"]["description"] = (
        "Not blank (else 400 `invalid_guardrails`, `param` `terms[N].term`)"
    )
    evaluate = schemas["PolicyEvaluateRequest"]
    evaluate["properties"]["policy"] = {
        "anyOf": [
            {"type": "string", "description": "the name of an active policy (else 404)"},
            {**ref("Policy"), "description": "a policy document, not stored"},
        ]
    }
    evaluate["properties"]["route"]["description"] = (
        "the proxy's route label: chat (default), completions or embeddings on the openai wire, "
        "messages (default) on the anthropic wire"
    )
    evaluate["anyOf"] = [
        {
            "properties": {
                "wire": {"const": wire},
                "route": {"enum": [*routes, None]},
            },
            **({"required": ["wire"]} if wire != "openai" else {}),
        }
        for wire, routes in ROUTES_BY_WIRE.items()
    ]
    schemas["PolicyValidateRequest"]["properties"]["document"] = ref("Policy")
    return schemas


OPENAPI_SCHEMAS: dict[str, JsonSchema] = _schemas()


def _semantic_400(description: str, refusals: list[Mapping[str, Any]]) -> dict[str, Any]:
    """A 400 response that also lists the refusals of schema-valid bodies (`code`, and the
    `param` as a regex; a missing `param` pattern: the error has none)."""
    return {
        "description": description,
        "content": json_content(ref("Error")),
        SEMANTIC_ERRORS: [dict(refusal) for refusal in refusals],
    }


_POLICY_REFUSALS: list[Mapping[str, Any]] = [
    {"code": "invalid_policy", "param": r"^rules\[[0-9]+\]\.when$", "reason": "bad condition"},
    {"code": "invalid_policy", "param": "^rules$", "reason": "two rules of one name"},
]
_POLICY_400 = _semantic_400(
    "The body is malformed or not a valid policy (code `invalid_policy`, `param` where, e.g. "
    "`rules[2].when`): a schema-valid document is still refused when a condition does not "
    "compile or two rules share a name",
    _POLICY_REFUSALS,
)
_GUARDRAILS_400 = _semantic_400(
    "The body is not valid guardrail settings (code `invalid_guardrails`, `param` where, e.g. "
    "`patterns[0].regex`): a schema-valid body is still refused for a regex that does not "
    "compile or matches the empty string, a blank term, or two patterns of one name",
    [
        {"code": "invalid_guardrails", "param": r"^patterns\[[0-9]+\]$", "reason": "bad regex"},
        {"code": "invalid_guardrails", "param": r"^terms\[[0-9]+\]\.term$", "reason": "blank"},
        {"code": "invalid_guardrails", "param": None, "reason": "two patterns of one name"},
    ],
)

_SUMMARY_PROPERTIES: dict[str, JsonSchema] = {
    "name": {"type": "string"},
    "version": {"type": "integer", "minimum": 0, "description": "0: never written"},
    "created_at": {
        "type": ["number", "null"],
        "description": "Unix time of the write; null for the config file's",
    },
    "active": {"type": "boolean", "description": "whether this version is the one in force"},
    "note": {
        "type": "string",
        "description": "created, updated, rollback to vN, unchanged (nothing written)",
    },
}
_SUMMARY = ["name", "version", "created_at", "active", "note"]
_SOURCE = {
    "type": "string",
    "enum": ["store", "config"],
    "description": "config: from the SMARTFLOW_CONFIG file, read-only here",
}
_VERSION_SUMMARY: JsonSchema = {
    "type": "object",
    "required": _SUMMARY,
    "properties": _SUMMARY_PROPERTIES,
}
_STORED_POLICY: JsonSchema = {
    "type": "object",
    "required": [*_SUMMARY, "source", "document"],
    "properties": {**_SUMMARY_PROPERTIES, "source": _SOURCE, "document": ref("Policy")},
}
_LISTED_POLICY: JsonSchema = {
    "type": "object",
    "required": [*_SUMMARY, "source", "mode", "description", "bound_to", "rules"],
    "properties": {
        **_SUMMARY_PROPERTIES,
        "source": _SOURCE,
        "mode": {"type": "string", "enum": ["enforce", "shadow"]},
        "description": {"type": "string"},
        "bound_to": ref("PolicyBinding"),
        "rules": {"type": "integer", "minimum": 1, "description": "how many rules"},
    },
}
_GUARDRAILS: JsonSchema = {
    "type": "object",
    "required": [*_SUMMARY, "source", "config"],
    "properties": {
        **_SUMMARY_PROPERTIES,
        "source": {
            **_SOURCE,
            "description": "config: never written through the API (the file's or the defaults)",
        },
        "config": ref("GuardrailConfig"),
    },
}
_ACTION = OPENAPI_SCHEMAS["PolicyRule"]["properties"]["action"]["anyOf"][0]  # no shorthand
_DECISION: JsonSchema = {
    "type": "object",
    "required": ["action", "rule", "reason", "shadow", "policy", "version", "bound"],
    "properties": {
        "action": _ACTION,
        "rule": {"type": ["string", "null"], "description": "null: no rule matched, or unbound"},
        "reason": {"type": "string"},
        "shadow": {"type": "boolean", "description": "recorded, not enforced"},
        "policy": {"type": "string"},
        "version": {"type": "integer"},
        "bound": {"type": "boolean", "description": "whether the policy applies to the request"},
    },
}
_JUDGED_PROPERTIES: dict[str, JsonSchema] = {
    "decision": _DECISION,
    "rules": {
        "type": "array",
        "description": "every rule, in order, with whether its condition held",
        "items": {
            "type": "object",
            "required": ["name", "when", "action", "matched"],
            "properties": {
                "name": {"type": "string"},
                "when": {"type": "string"},
                "action": {"type": "string", "description": "the action's type"},
                "matched": {"type": "boolean"},
            },
        },
    },
    "findings": {
        "type": "object",
        "description": "by finding type: how many, and the highest confidence (never the text)",
        "additionalProperties": {
            "type": "object",
            "required": ["count", "confidence"],
            "properties": {
                "count": {"type": "integer", "minimum": 1},
                "confidence": {"type": "number"},
            },
        },
    },
}
_JUDGED = ["decision", "rules", "findings"]
_EVALUATION: JsonSchema = {
    "type": "object",
    "required": ["policy", "profile", *_JUDGED],
    "properties": {
        "policy": {
            "type": "object",
            "required": ["name", "version", "mode"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "integer"},
                "mode": {"type": "string", "enum": ["enforce", "shadow"]},
            },
        },
        "profile": {"type": "string", "enum": ["full", "reduced"]},
        **_JUDGED_PROPERTIES,
        "response": {
            "type": "object",
            "description": "the same for `response`, when it was given",
            "required": _JUDGED,
            "properties": _JUDGED_PROPERTIES,
        },
    },
}
_VALIDATION: JsonSchema = {
    "type": "object",
    "required": ["valid", "name", "version", "mode", "rules"],
    "properties": {
        "valid": {"const": True},
        "name": {"type": "string"},
        "version": {"type": "integer"},
        "mode": {"type": "string", "enum": ["enforce", "shadow"]},
        "rules": {"type": "array", "items": {"type": "string"}, "description": "rule names"},
    },
}

_NAME_PARAMETER = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "a policy name; any other string is a 404",
    "schema": {"type": "string", "pattern": POLICY_NAME_PATTERN, "maxLength": NAME_MAX},
}
_VERSION_PARAMETER = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "a version number; anything else is a 404",
    "schema": {"type": "integer", "minimum": 1, "maximum": VERSION_MAX},
}
_TAGS = ["policies"]
_NO_POLICIES = "503"  # the policy store is not open (only while the service starts or stops)

MANAGEMENT_PATHS: dict[str, Any] = {
    BASE: {
        "get": {
            "operationId": "listPolicies",
            "summary": "The active policies: the store's, then the config file's not overridden",
            "tags": _TAGS,
            "responses": {
                "200": json_response(
                    "The active policies by name",
                    {
                        "type": "object",
                        "required": ["policies"],
                        "properties": {"policies": {"type": "array", "items": _LISTED_POLICY}},
                    },
                ),
                **errors(_NO_POLICIES),
            },
        },
        "post": {
            "operationId": "putPolicy",
            "summary": "Create a policy, or write its next version (validated and compiled)",
            "description": (
                "A document that states `version` must state the next one (else 409, code "
                "`version_conflict`). Writing exactly what is active writes nothing: 200 with "
                "note `unchanged`."
            ),
            "tags": _TAGS,
            "requestBody": json_body(ref("Policy")),
            "responses": {
                "200": json_response("Unchanged: the active version", _STORED_POLICY),
                "201": json_response("The version written, now active", _STORED_POLICY),
                "400": _POLICY_400,
                **errors("409", "413", _NO_POLICIES),
            },
        },
    },
    BASE + "/{name}": {
        "get": {
            "operationId": "getPolicy",
            "parameters": [_NAME_PARAMETER],
            "summary": "The active version of a policy",
            "tags": _TAGS,
            "responses": {
                "200": json_response("The active version", _STORED_POLICY),
                **errors("404", _NO_POLICIES),
            },
        },
        "delete": {
            "operationId": "deletePolicy",
            "parameters": [_NAME_PARAMETER],
            "summary": "Stop applying a policy (config-file ones are a 404)",
            "description": (
                "Drops the active version only: the history stays readable at "
                "`/versions` and `/versions/{version}`; a rollback, or writing the name again, "
                "makes it active again, continuing its numbering."
            ),
            "tags": _TAGS,
            "responses": {
                "200": json_response(
                    "Deleted",
                    {
                        "type": "object",
                        "required": ["name", "deleted"],
                        "properties": {"name": {"type": "string"}, "deleted": {"const": True}},
                    },
                ),
                **errors("404", _NO_POLICIES),
            },
        },
    },
    BASE + "/{name}/versions": {
        "get": {
            "operationId": "listPolicyVersions",
            "parameters": [_NAME_PARAMETER],
            "summary": "Every stored version of a policy, the deleted ones' included",
            "tags": _TAGS,
            "responses": {
                "200": json_response(
                    "The versions, oldest first",
                    {
                        "type": "object",
                        "required": ["name", "versions"],
                        "properties": {
                            "name": {"type": "string"},
                            "versions": {"type": "array", "items": _VERSION_SUMMARY},
                        },
                    },
                ),
                **errors("404", _NO_POLICIES),
            },
        },
    },
    BASE + "/{name}/versions/{version}": {
        "get": {
            "operationId": "getPolicyVersion",
            "parameters": [_NAME_PARAMETER, _VERSION_PARAMETER],
            "summary": "One stored version of a policy",
            "tags": _TAGS,
            "responses": {
                "200": json_response("The version", _STORED_POLICY),
                **errors("404", _NO_POLICIES),
            },
        },
    },
    BASE + "/{name}/rollback": {
        "post": {
            "operationId": "rollbackPolicy",
            "parameters": [_NAME_PARAMETER],
            "summary": "Make a copy of an old version the next, active version",
            "tags": _TAGS,
            "requestBody": json_body(ref("PolicyRollbackRequest")),
            "responses": {
                "201": json_response("The copy written, now active", _STORED_POLICY),
                "404": json_response(
                    "No policy of this name was ever stored, or (`param` `version`) it has no "
                    "such version",
                    ref("Error"),
                ),
                **errors("400", "413", _NO_POLICIES),
            },
        },
    },
    GUARDRAILS: {
        "get": {
            "operationId": "getGuardrails",
            "summary": "The guardrail settings in force (scanners, phone regions, patterns, terms)",
            "tags": _TAGS,
            "responses": {
                "200": json_response("The settings", _GUARDRAILS),
                **errors(_NO_POLICIES),
            },
        },
        "put": {
            "operationId": "putGuardrails",
            "summary": "Replace the guardrail settings (a new version unless unchanged)",
            "tags": _TAGS,
            "requestBody": json_body(ref("GuardrailConfig")),
            "responses": {
                "200": json_response("The settings now in force", _GUARDRAILS),
                "400": _GUARDRAILS_400,
                **errors("413", _NO_POLICIES),
            },
        },
    },
    GUARDRAILS + "/versions": {
        "get": {
            "operationId": "listGuardrailVersions",
            "summary": "Every stored version of the guardrail settings, oldest first",
            "tags": _TAGS,
            "responses": {
                "200": json_response(
                    "The versions",
                    {
                        "type": "object",
                        "required": ["versions"],
                        "properties": {
                            "versions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": [*_SUMMARY, "config"],
                                    "properties": {
                                        **_SUMMARY_PROPERTIES,
                                        "config": ref("GuardrailConfig"),
                                    },
                                },
                            }
                        },
                    },
                ),
                **errors(_NO_POLICIES),
            },
        },
    },
}

DRY_RUN_PATHS: dict[str, Any] = {
    "/api/policy/evaluate": {
        "post": {
            "operationId": "evaluatePolicy",
            "summary": "Dry run: what a policy would decide for a request, and why",
            "description": (
                "Scans the request's text (and `response`, if given) with the guardrail "
                "settings in force and returns the decision, every rule with whether it held, "
                "and the findings by type (never the matched text). 404 (`param` `policy`) "
                "when `policy` names no active policy; 503 (code `compliance_timeout`) when a "
                "scan outlasts COMPLIANCE_TIMEOUT_SECS."
            ),
            "tags": _TAGS,
            "requestBody": json_body(ref("PolicyEvaluateRequest")),
            "responses": {
                "200": json_response("The decision and its reasons", _EVALUATION),
                "400": _semantic_400(
                    "The body is malformed, or its inline policy is not valid (code "
                    "`invalid_policy`): a schema-valid policy is still refused when a "
                    "condition does not compile or two rules share a name",
                    _POLICY_REFUSALS,
                ),
                **errors("404", "413", _NO_POLICIES),
            },
        }
    },
    "/api/policy/validate": {
        "post": {
            "operationId": "validatePolicy",
            "summary": "Check a policy document without storing it",
            "tags": _TAGS,
            "requestBody": json_body(ref("PolicyValidateRequest")),
            "responses": {
                "200": json_response("The document is valid", _VALIDATION),
                "400": _POLICY_400,
                **errors("413", _NO_POLICIES),
            },
        }
    },
}

OPENAPI_PATHS: dict[str, Any] = {**MANAGEMENT_PATHS, **DRY_RUN_PATHS}
