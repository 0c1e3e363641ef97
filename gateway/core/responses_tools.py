"""Responses tools on a translation path: what each tool type becomes for a chat model (and so for
an Anthropic one, which is reached through the chat shape), and what the model's calls become
again in the Responses answer.

Per tool type (a client such as Codex CLI sends several of these on every request):

- `function`: a chat function tool, unchanged.
- `namespace`: its member tools are flattened into chat function tools named
  `<namespace>__<name>` (chat and Anthropic names allow `[A-Za-z0-9_-]`, 64 characters at most
  here; a name that does not fit is cut and ends with a digest of the whole). A call comes back
  as a `function_call` (or `custom_tool_call`) item with `name` and `namespace` set, and such
  items in the input go upstream under the flattened name. The namespace's description is added
  to each member's (chat has no carrier for the group).
- `custom` (freeform text input, optionally constrained by a grammar): a chat function tool
  taking one required string argument `input`; the description asks for the whole input there
  and quotes the grammar (its syntax and definition) so a model can follow it. A call comes back
  as a `custom_tool_call` whose `input` is that string (a model that answers with anything else
  than `{"input": "..."}` has its raw arguments taken as the input).
- `tool_search` run by the client (`"execution": "client"`): a function tool in disguise, sent
  as the chat function `tool_search` with its `parameters`; a call comes back as a
  `tool_search_call` item (`execution: "client"`, `arguments` the decoded JSON object). The
  client answers with a `tool_search_output` item whose `tools` are now loaded: they join the
  chat tools (flattened like the request's own), and the item becomes the tool message naming
  them. `additional_tools` input items load tools the same way (and send no message).
- `tool_search` run by the server (no `execution`, or `"server"`): dropped, and the tools it
  would have loaded (`defer_loading`) are sent like any other: nothing is left to search for.
- `web_search` (and its dated and `_preview` variants): dropped. A search runs on OpenAI's
  servers, which a translated request never reaches; a model without it answers from what it
  knows, and clients such as Codex send it on every request with no way to turn it off. A
  `tool_choice` that forces it is refused (400): that answer cannot be given here.
- every other hosted tool (`file_search`, `code_interpreter`, `computer*`, `image_generation`,
  `mcp`, `programmatic_tool_calling`) and the tools whose calls have OpenAI-model-specific
  shapes (`local_shell`, `shell`, `apply_patch`): `InvalidRequest` naming the parameter. Those
  change what the answer is made of (files, images, actions taken), so dropping them would
  silently give a different answer.

Tools loaded by a `tool_search_output` in the stored conversation of `previous_response_id` are
sent upstream, but the answer translators only see the request itself: a call to one of them
comes back under its flattened name (clients that send their whole history, like Codex, are not
affected).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from gateway.core.errors import InvalidRequest
from gateway.core.responses_json import as_dict, as_list, as_str

SEARCH_NAME: Final = "tool_search"
# Output item types that stand for a tool call the client runs (and answers with an output item).
CALL_TYPES: Final = frozenset({"function_call", "custom_tool_call", "tool_search_call"})
DROPPED_TOOLS: Final = frozenset(
    {"web_search", "web_search_2025_08_26", "web_search_preview", "web_search_preview_2025_03_11"}
)
_NAME_OK: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NOT_NAME_CHAR: Final = re.compile(r"[^A-Za-z0-9_-]")
_ID_KINDS: Final[Mapping[str, str]] = {"function": "fc", "custom": "ctc", "tool_search": "tsc"}
_EMPTY_SCHEMA: Final[Mapping[str, Any]] = {"type": "object", "properties": {}}
_SEARCH_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
    "required": ["query"],
}
_SEARCH_DESCRIPTION: Final = "Search for more tools by what they do: those found become callable."
_LOADING: Final = frozenset({"tool_search_output", "additional_tools"})


@dataclass(frozen=True, slots=True)
class ToolRef:
    """What a chat function name stands for: `kind` is `function`, `custom` or `tool_search`."""

    kind: str
    name: str
    namespace: str | None = None


def flat_name(namespace: str | None, name: str) -> str:
    """The chat function name of tool `name` (in `namespace`, when it has one)."""
    if namespace is None:
        return name
    raw = f"{namespace}__{name}"
    if _NAME_OK.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{_NOT_NAME_CHAR.sub('_', raw)[:55]}_{digest}"


def _name(tool: Mapping[str, Any], param: str, what: str) -> str:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"a {what} needs 'name'", param=f"{param}.name")
    return name


def _custom_description(tool: Mapping[str, Any]) -> str:
    lines = [tool["description"]] if isinstance(tool.get("description"), str) else []
    lines.append("Put the whole input of this tool, as plain text, in the string argument `input`.")
    fmt = as_dict(tool.get("format"))
    if fmt.get("type") == "grammar":
        syntax = as_str(fmt.get("syntax")) or "formal"
        lines.append(f"`input` must follow this {syntax} grammar:\n{as_str(fmt.get('definition'))}")
    return "\n\n".join(line for line in lines if line)


class _Tools:
    """The chat tools being built, and what each chat name stands for."""

    def __init__(self) -> None:
        self.chat: list[dict[str, Any]] = []
        self.refs: dict[str, ToolRef] = {}

    def _put(self, ref: ToolRef, function: dict[str, Any], param: str) -> None:
        name = function["name"]
        known = self.refs.get(name)
        if known == ref:  # the same tool again (a tool search loading one already there)
            return
        if known is not None:
            raise InvalidRequest(f"two tools are both sent as {name!r}", param=param)
        self.refs[name] = ref
        self.chat.append({"type": "function", "function": function})

    def _member(self, tool: Mapping[str, Any], param: str, ns: Mapping[str, Any] | None) -> None:
        kind = tool.get("type")
        namespace = _name(ns, param, "namespace") if ns is not None else None
        name = _name(tool, param, f"{kind} tool")
        function: dict[str, Any] = {"name": flat_name(namespace, name)}
        if kind == "custom":
            function["description"] = _custom_description(tool)
            function["parameters"] = {
                "type": "object",
                "properties": {"input": {"type": "string"}},
                "required": ["input"],
                "additionalProperties": False,
            }
        else:
            if tool.get("description"):
                function["description"] = tool["description"]
            function["parameters"] = tool.get("parameters") or dict(_EMPTY_SCHEMA)
            if tool.get("strict") is not None:
                function["strict"] = bool(tool["strict"])
        if ns is not None and isinstance(ns.get("description"), str) and ns["description"]:
            about = f"Part of `{namespace}`: {ns['description']}"
            function["description"] = "\n\n".join(
                filter(None, [as_str(function.get("description")), about])
            )
        self._put(ToolRef(str(kind), name, namespace), function, param)

    def add(self, tool: Mapping[str, Any], param: str) -> None:
        kind = tool.get("type")
        if kind in ("function", "custom"):
            self._member(tool, param, None)
        elif kind == "namespace":
            for i, member in enumerate(as_list(tool.get("tools"))):
                where = f"{param}.tools[{i}]"
                if not isinstance(member, dict) or member.get("type") not in ("function", "custom"):
                    raise InvalidRequest("a namespace holds function and custom tools", param=where)
                self._member(member, where, tool)
        elif kind == SEARCH_NAME and tool.get("execution") == "client":
            function: dict[str, Any] = {
                "name": SEARCH_NAME,
                "description": as_str(tool.get("description")) or _SEARCH_DESCRIPTION,
                "parameters": tool.get("parameters") or dict(_SEARCH_SCHEMA),
            }
            self._put(ToolRef(SEARCH_NAME, SEARCH_NAME), function, param)
        elif kind not in DROPPED_TOOLS and kind != SEARCH_NAME:
            raise InvalidRequest(
                f"tool type {kind!r} is run by OpenAI and cannot run on this model; "
                "function, custom, namespace and client tool_search tools can be sent here",
                param=param,
            )


def loaded_tools(items: Iterable[Any], param: str) -> list[tuple[dict[str, Any], str]]:
    """The tools that `tool_search_output` and `additional_tools` items load, with where."""
    out: list[tuple[dict[str, Any], str]] = []
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") in (
            "tool_search_output",
            "additional_tools",
        ):
            for j, tool in enumerate(as_list(item.get("tools"))):
                if isinstance(tool, dict):
                    out.append((tool, f"{param}[{i}].tools[{j}]"))
    return out


def chat_tools(
    tools: Iterable[tuple[dict[str, Any], str]],
) -> tuple[list[dict[str, Any]], dict[str, ToolRef]]:
    """(Responses tool, where) pairs -> (chat tools, what each chat function name stands for)."""
    built = _Tools()
    for tool, param in tools:
        built.add(tool, param)
    return built.chat, built.refs


def request_tools(body: Mapping[str, Any]) -> list[tuple[dict[str, Any], str]]:
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    for i, tool in enumerate(as_list(tools)):
        if not isinstance(tool, dict):
            raise InvalidRequest(f"'tools[{i}]' must be an object", param=f"tools[{i}]")
    return [(tool, f"tools[{i}]") for i, tool in enumerate(as_list(tools))]


def tool_refs(request: Mapping[str, Any]) -> dict[str, ToolRef]:
    """What each chat function name of a (translated, so valid) request stands for: for the
    answer translators, which turn calls back into Responses items."""
    try:
        found = [*request_tools(request), *loaded_tools(as_list(request.get("input")), "input")]
        return chat_tools(found)[1]
    except InvalidRequest:
        return {}


def chat_tool_choice(choice: Any, refs: Mapping[str, ToolRef]) -> str | dict[str, Any]:
    """Responses `tool_choice` -> chat. Forcing a dropped (hosted) tool is refused."""
    if isinstance(choice, str) and choice in ("auto", "none", "required"):
        return choice
    kind = as_dict(choice).get("type")
    if kind in ("function", "custom") and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": _chat_name(choice, refs)}}
    if kind == "allowed_tools":
        named = [t for t in as_list(choice.get("tools")) if isinstance(t, dict)]
        if any(t.get("type") not in ("function", "custom", *DROPPED_TOOLS) for t in named):
            raise InvalidRequest(
                "allowed_tools may name function and custom tools only", param="tool_choice"
            )
        kept = [t for t in named if t.get("type") in ("function", "custom")]
        if not kept:
            raise InvalidRequest(
                "allowed_tools names no tool this model can run", param="tool_choice"
            )
        functions = [{"type": "function", "function": {"name": _chat_name(t, refs)}} for t in kept]
        mode = choice.get("mode") or "auto"
        return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": functions}}
    if kind in DROPPED_TOOLS:
        raise InvalidRequest(
            f"tool_choice forces {kind!r}, which runs on OpenAI's servers and not on this model",
            param="tool_choice",
        )
    raise InvalidRequest("unsupported tool_choice for this model", param="tool_choice")


def _chat_name(choice: Mapping[str, Any], refs: Mapping[str, ToolRef]) -> str:
    """The chat name of the tool a tool choice names (by its chat name, or its own name)."""
    name = str(choice.get("name"))
    if name in refs:
        return name
    kind = choice.get("type")
    found = [chat for chat, ref in refs.items() if ref.name == name and ref.kind == kind]
    return found[0] if len(found) == 1 else name


# -- calls: chat (arguments as JSON text) <-> Responses items


def _decode(arguments: str) -> Any:
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return None


def custom_input(arguments: str) -> str:
    """A custom tool's input from the chat call's arguments (`{"input": "..."}`)."""
    value = _decode(arguments)
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return str(value["input"])
    return value if isinstance(value, str) else arguments


def id_kind(ref: ToolRef | None) -> str:
    """The output item id prefix of a call to `ref` (`fc`, `ctc` or `tsc`)."""
    return _ID_KINDS[ref.kind] if ref is not None else "fc"


def call_item(
    ref: ToolRef | None, item_id_: str, call_id: str, chat_name: str, *, arguments: str, status: str
) -> dict[str, Any]:
    """The output item for a chat tool call to `chat_name` (`ref` says what it stands for)."""
    if ref is not None and ref.kind == SEARCH_NAME:
        decoded = _decode(arguments) if arguments else {}
        return {
            "id": item_id_,
            "type": "tool_search_call",
            "call_id": call_id,
            "execution": "client",
            "arguments": decoded if isinstance(decoded, dict) else {},
            "status": status,
        }
    item: dict[str, Any] = {"id": item_id_, "call_id": call_id}
    if ref is not None and ref.kind == "custom":
        item.update(type="custom_tool_call", name=ref.name, input=custom_input(arguments))
    else:
        name = ref.name if ref is not None else chat_name
        item.update(type="function_call", name=name, arguments=arguments, status=status)
    if ref is not None and ref.namespace is not None:
        item["namespace"] = ref.namespace
    return item


def chat_call(item: Mapping[str, Any]) -> tuple[str, str]:
    """(chat function name, arguments JSON text) of a call item the client sends back."""
    kind = item.get("type")
    if kind == "tool_search_call":
        arguments = item.get("arguments")
        return SEARCH_NAME, orjson.dumps(arguments if isinstance(arguments, dict) else {}).decode()
    namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
    name = flat_name(namespace, as_str(item.get("name")))
    if kind == "custom_tool_call":
        return name, orjson.dumps({"input": as_str(item.get("input"))}).decode()
    arguments = item.get("arguments")
    return name, arguments if isinstance(arguments, str) else "{}"


def search_result_text(tools: Iterable[tuple[dict[str, Any], str]]) -> str:
    """The tool message for a `tool_search_output`: the loaded tools as the model can call them."""
    chat, _ = chat_tools(tools)
    found = [
        {"name": t["function"]["name"], "description": as_str(t["function"].get("description"))}
        for t in chat
    ]
    return orjson.dumps({"tools": found}).decode()
