"""When the fake LLM calls a tool, and which one: the same rules for every wire format.

A real model calls a tool when it is told to or when the conversation asks for one, and answers a
tool result with text. Agents (Claude Code, the OpenAI Agents SDK) send their tools on every
request, so a mock that called a tool whenever tools were offered would never let them finish.
The rules, in order:

1. The last message is not a user turn (an assistant turn being continued), or it carries tool
   results (OpenAI role "tool"; an Anthropic user turn with `tool_result` blocks): text, whatever
   `tool_choice` says. Real APIs would honour a forcing `tool_choice` here; the mock does not, so
   that every agent loop ends after one round of tools.
2. `tool_choice` "none" (OpenAI "none", Anthropic {"type": "none"}): text.
3. `tool_choice` naming a tool (OpenAI {"type": "function", "function": {"name": X}}, Anthropic
   {"type": "tool", "name": X}): a call to X, sub-agent launcher or not.
4. The trigger: the last user turn asks for a tool by its exact name (case-sensitive, a whole
   word, backticks allowed) as `use NAME`, `call NAME`, `run NAME`, `invoke NAME` (also `using`,
   `calling`, `running`, `invoking`, with an optional `the`/`a`/`an`/`your` between) or as
   `NAME tool` / `NAME function`: "use get_weather", "call the get_weather tool". The tool asked
   for first is called. Text inside `<system-reminder>...</system-reminder>` (Claude Code adds
   such reminders to user turns, and they mention tools) is not read.
5. `tool_choice` that forces some call (OpenAI "required", Anthropic {"type": "any"}): the tool
   rule 4 finds, else the first offered tool that is not a sub-agent launcher, else the first.
6. Otherwise (no tool_choice, OpenAI "auto", Anthropic {"type": "auto"}): text.

Sub-agent launchers are never called by the trigger (rule 4), so a sub-agent's own requests cannot
start another one: a tool is one when its name is `Task`, or when one of the words of its name
(split at `_`, `-`, `.` and lower-to-upper case changes, compared case-insensitively) is `agent`,
`agents`, `subagent` or `subagents` (Claude Code's `Task` and `Agent`, `dispatch_agent`,
`spawn_subagent`, the OpenAI Agents SDK's agents as tools such as `spanish_agent`). Only a
`tool_choice` naming one calls it.

The arguments of a call are built from the tool's JSON schema (`mockllm.text.schema_value`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

__all__ = ["Mode", "choose_tool", "is_subagent_tool", "requested_tools", "visible_text"]

Mode = Literal["auto", "none", "required"]

_SUBAGENT_WORDS = frozenset({"agent", "agents", "subagent", "subagents"})
_NAME_WORDS = re.compile(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])")
_REMINDER = re.compile(r"<system-reminder>.*?(?:</system-reminder>|\Z)", re.DOTALL)
_VERBS = r"(?i:use|using|call|calling|run|running|invoke|invoking)"
_ARTICLE = r"(?i:(?:the|a|an|your)\s+)?"


def is_subagent_tool(name: str) -> bool:
    """True for a tool that starts a sub-agent (see the module docstring for the rule)."""
    words = [w.lower() for w in _NAME_WORDS.split(name) if w]
    return words == ["task"] or any(w in _SUBAGENT_WORDS for w in words)


def visible_text(text: str) -> str:
    """A user turn's text without the `<system-reminder>` spans agents add to it."""
    if "<system-reminder>" not in text:
        return text
    return _REMINDER.sub(" ", text)


def requested_tools(text: str, names: Sequence[str]) -> list[str]:
    """The offered tools the text asks for (rule 4), in the order it asks for them."""
    present = [n for n in names if n and n in text]  # cheap filter before any regex
    if not present:
        return []
    alternation = "|".join(re.escape(n) for n in sorted(set(present), key=len, reverse=True))
    pattern = re.compile(
        rf"(?<![\w-]){_VERBS}\s+{_ARTICLE}`?(?P<a>{alternation})`?(?![\w-])"
        rf"|(?<![\w-])`?(?P<b>{alternation})`?\s+(?i:tool|function)(?![\w-])"
    )
    found: list[str] = []
    for match in pattern.finditer(text):
        name = match.group("a") or match.group("b")
        if name not in found:
            found.append(name)
    return found


def choose_tool(
    names: Sequence[str], mode: Mode, forced: str | None, prompt: str | None
) -> str | None:
    """The tool to call, or None for a text reply.

    names: the offered tools, in request order. mode/forced: what tool_choice says (forced is the
    name it gives, if any). prompt: the last user turn's text, or None when the last message is
    not a user turn or carries tool results.
    """
    if prompt is None or mode == "none" or not names:
        return None
    if forced is not None:
        return forced
    asked = [n for n in requested_tools(visible_text(prompt), names) if not is_subagent_tool(n)]
    if asked:
        return asked[0]
    if mode == "required":
        return next((n for n in names if not is_subagent_tool(n)), names[0])
    return None
