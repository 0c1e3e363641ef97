"""Guardrail policy documents for `sfctl policy`: reading them from files (YAML or JSON, one
document or several), the local checks made before anything is sent, and the management API's
policy routes.

Every problem is one line that names the file and where in it (`policy.yaml: not valid YAML at
line 4, column 7: ...`). The full validation is the gateway's (it compiles the policy on write
and answers 400 `invalid_policy` with the location, `rules[2].when: ...`); locally a document
only has to parse, be a mapping and have a name. Problems with a document exit 1 whether they
are found here or by the gateway.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from sfctl.client import AdminClient, resolve_target
from sfctl.errors import SfctlError, UsageError
from sfctl.spec import cli_environment

POLICIES = "/api/policies"
EVALUATE = "/api/policy/evaluate"
STDIN = "-"


class PolicyFileError(SfctlError):
    """A policy or request file that cannot be used (exit 1, like a policy the gateway refuses)."""


class PolicyRejected(SfctlError):
    """The gateway refused a request body (HTTP 400/409/422). `location` is where in the policy
    (`rules[2].when`) when the gateway said so; `code` is its error code (`invalid_policy`)."""

    def __init__(self, message: str, *, code: str | None, location: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.location = location

    def where(self) -> str:
        """The message led by its location, once (the gateway's messages usually start with it)."""
        text = str(self)
        if self.location and not text.startswith(self.location):
            return f"{self.location}: {text}"
        return text


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    """One policy read from a file: its name, the document as sent, its place in the file."""

    name: str
    document: dict[str, Any]
    index: int  # 1-based position in the file


# --- reading files ---------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping: PyYAML keeps the last one
    silently, which would hide the first of two `when:` lines."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        line = key_node.start_mark.line + 1
        if isinstance(key, str | int | float | bool) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice (first at line {seen[key]})",
                key_node.start_mark,
            )  # fmt: skip
        if isinstance(key, str | int | float | bool):
            seen[key] = line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_text(path: Path) -> str:
    """The file's text (`-`: standard input); a missing or unreadable file is one line."""
    if str(path) == STDIN:
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PolicyFileError(f"{path} is a directory, not a file") from None
    except UnicodeDecodeError:
        raise PolicyFileError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise PolicyFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def parse_documents(text: str, source: str) -> list[Any]:
    """Every document in `text`: JSON when `source` ends in .json, else YAML (which also reads
    JSON); YAML `---` separates several, and a top-level list holds several too. Empty YAML
    documents (a trailing `---`) are skipped."""
    if source.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyFileError(
                f"{source}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        return list(data) if isinstance(data, list) else [data]
    try:
        documents = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        raise PolicyFileError(f"{source}: not valid YAML {_yaml_problem(exc)}") from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(f"{source}: not valid YAML: {_one_line(str(exc))}") from None
    if len(documents) == 1 and isinstance(documents[0], list):
        return list(documents[0])
    return documents


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = exc.problem or exc.context or "cannot be parsed"
    return f"{where}: {_one_line(what)}" if where else f": {_one_line(what)}"


def load_policies(path: Path) -> list[PolicyDocument]:
    """The policies in a file, checked locally: each a mapping with a name, no name twice."""
    source = str(path)
    raw = parse_documents(read_text(path), source)
    if not raw:
        raise PolicyFileError(f"{source} holds no policy document")
    several = len(raw) > 1
    policies: list[PolicyDocument] = []
    seen: dict[str, int] = {}
    for index, document in enumerate(raw, 1):
        where = f"{source}: document {index}" if several else source
        policy = check_document(document, where)
        name = policy["name"]
        if name in seen:
            raise PolicyFileError(
                f"{where}: policy {name!r} is also document {seen[name]}; give each once"
            )
        seen[name] = index
        policies.append(PolicyDocument(name, policy, index))
    return policies


def check_document(document: Any, where: str) -> dict[str, Any]:
    """A policy document as JSON data: a mapping with a non-empty string `name`. YAML dates
    become ISO strings (they are text to the gateway); anything else JSON cannot carry is an
    error naming where it is."""
    if not isinstance(document, dict):
        raise PolicyFileError(
            f"{where}: a policy is a mapping (name, rules, ...), not {_kind(document)}"
        )
    name = document.get("name")
    if name is None:
        raise PolicyFileError(f"{where}: the policy has no 'name'")
    if not isinstance(name, str) or not name.strip():
        raise PolicyFileError(f"{where}: 'name' must be a non-empty string, not {_kind(name)}")
    plain = json_data(document, where)
    assert isinstance(plain, dict)
    return plain


def json_data(value: Any, where: str, path: str = "") -> Any:
    """`value` as JSON-serialisable data (see check_document)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PolicyFileError(
                    f"{where}: {path or 'the document'} has a key that is not text: {key!r}"
                    " (quote it)"
                )
            out[key] = json_data(item, where, f"{path}.{key}" if path else key)
        return out
    if isinstance(value, list | tuple):
        return [json_data(item, where, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise PolicyFileError(f"{where}: {path or 'the document'}: {_kind(value)} is not JSON data")


def load_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from a file (`what` names it in errors: "request")."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyFileError(
            f"{path}: the {what} is not valid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise PolicyFileError(f"{path}: the {what} must be a JSON object, not {_kind(data)}")
    return data


def _kind(value: Any) -> str:
    kinds = {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    for kind, text in kinds.items():
        if isinstance(value, kind):
            return text
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- the management API's policy routes ------------------------------------------------------


def _refused(response: httpx.Response) -> None:
    """Response hook: a refused body (400, 409 version conflict, 422) becomes a PolicyRejected
    with the gateway's location, before AdminClient maps it to a generic error without one."""
    if response.status_code not in (400, 409, 422):
        return
    response.read()
    try:
        payload = response.json()
    except ValueError:
        return
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict) or not error.get("message"):
        return
    param = error.get("param")
    raise PolicyRejected(
        _one_line(str(error["message"])),
        code=str(error["code"]) if error.get("code") else None,
        location=str(param) if param else None,
    )


class PolicyClient(AdminClient):
    """AdminClient with the policy routes; a refused policy raises PolicyRejected."""

    def __init__(
        self,
        base_url: str,
        admin_key: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, admin_key, timeout, transport)
        self._client.event_hooks = {"request": [], "response": [_refused]}

    def apply(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """Store a policy: a new version of it (StoredPolicy JSON)."""
        return self._call("POST", POLICIES, json=document)

    def policies(self) -> list[dict[str, Any]]:
        """Every policy's active version (with `document`, or its summary fields: mode,
        bound_to, rules as a count)."""
        return _rows(self._call("GET", POLICIES), POLICIES, ("policies", "data"))

    def policy(self, name: str, version: int | None = None) -> dict[str, Any]:
        path = _policy_path(name) if version is None else _policy_path(name, f"versions/{version}")
        return self._call("GET", path)

    def versions(self, name: str) -> list[dict[str, Any]]:
        path = _policy_path(name, "versions")
        return _rows(self._call("GET", path), path, ("versions", "data"))

    def rollback(self, name: str, version: int) -> dict[str, Any]:
        return self._call("POST", _policy_path(name, "rollback"), json={"version": version})

    def delete(self, name: str) -> dict[str, Any]:
        """Stop applying the policy (its history stays)."""
        return self._call("DELETE", _policy_path(name))

    def evaluate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", EVALUATE, json=body)


def _policy_path(name: str, tail: str | None = None) -> str:
    if not name.strip():
        raise UsageError("a policy name is required (see `sfctl policy list`)")
    path = f"{POLICIES}/{quote(name, safe='')}"
    return f"{path}/{tail}" if tail else path


def _rows(payload: Mapping[str, Any], path: str, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The list under the first of `names` present (the API says `policies`/`versions`;
    `data` is the shape first agreed)."""
    for name in names:
        rows = payload.get(name)
        if isinstance(rows, list):
            return [row for row in rows if isinstance(row, dict)]
    raise SfctlError(f"GET {path}: expected {{{names[0]!r}: [...]}} from the management API")


@contextmanager
def policy_client(
    url: str | None, admin_key: str | None, data_dir: Path | None, timeout: float
) -> Iterator[PolicyClient]:
    """The client a policy command opens from its --url/--admin-key/--data-dir options."""
    target = resolve_target(url, admin_key, cli_environment(), data_dir)
    client = PolicyClient(target.url, target.admin_key, timeout=timeout)
    with client:
        yield client
