"""Which MCP servers, tools and A2A agents a key reaches: the operator's team gate and the key's
own lists, each alone and together, allowed and refused."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.keys import KeyTools, VirtualKey
from gateway.core.tool_access import (
    agent_allowed,
    server_allowed,
    team_allowed,
    tool_allowed,
    tool_name,
)


def key(team: str | None = None, **tools: Any) -> VirtualKey:
    return VirtualKey(
        id="key_0123456789abcdef",
        key_hash="0" * 64,
        key_prefix="sk-sf-abcd",
        name="k",
        team=team,
        created_at=0,
        updated_at=0,
        tools=KeyTools.model_validate(tools),
    )


def test_a_key_without_tool_settings_reaches_every_unrestricted_server_tool_and_agent() -> None:
    plain = key()
    assert server_allowed(plain, "github", None)
    assert tool_allowed(plain, "github", "create_issue")
    assert agent_allowed(plain, "planner", None)


def test_a_team_restricted_server_serves_only_its_teams() -> None:
    teams = ("ml", "search")
    assert server_allowed(key(team="ml"), "github", teams)
    assert not server_allowed(key(team="finance"), "github", teams)
    assert not server_allowed(key(), "github", teams)  # no team: never a restricted server
    assert not server_allowed(key(team="ml"), "github", ())  # restricted to no team at all
    assert not server_allowed(key(team="ML"), "github", teams)  # names are exact


def test_a_team_restricted_agent_serves_only_its_teams() -> None:
    assert agent_allowed(key(team="ml"), "planner", ["ml"])
    assert not agent_allowed(key(team="ops"), "planner", ["ml"])
    assert not agent_allowed(key(), "planner", ["ml"])
    assert team_allowed(key(), None)


def test_the_keys_server_list() -> None:
    limited = key(mcp_servers=["github", "jira"])
    assert server_allowed(limited, "github", None)
    assert server_allowed(limited, "jira", None)
    assert not server_allowed(limited, "slack", None)
    assert not tool_allowed(limited, "slack", "post")  # a tool of a server not listed
    assert tool_allowed(limited, "jira", "search")


def test_both_gates_must_pass() -> None:
    listed_wrong_team = key(team="ops", mcp_servers=["github"])
    assert not server_allowed(listed_wrong_team, "github", ["ml"])
    right_team_not_listed = key(team="ml", mcp_servers=["jira"])
    assert not server_allowed(right_team_not_listed, "github", ["ml"])
    assert server_allowed(key(team="ml", mcp_servers=["github"]), "github", ["ml"])


def test_an_empty_list_allows_nothing() -> None:
    nothing = key(mcp_servers=[], mcp_tools=[], a2a_agents=[])
    assert not server_allowed(nothing, "github", None)
    assert not tool_allowed(nothing, "github", "create_issue")
    assert not agent_allowed(nothing, "planner", None)
    no_tools = key(mcp_tools=[])
    assert server_allowed(no_tools, "github", None)  # the server, but none of its tools
    assert not tool_allowed(no_tools, "github", "create_issue")


@pytest.mark.parametrize(
    ("patterns", "server", "tool", "allowed"),
    [
        (["github__*"], "github", "create_issue", True),
        (["github__*"], "gitlab", "create_issue", False),
        (["*__read_*"], "files", "read_file", True),
        (["*__read_*"], "files", "write_file", False),
        (["github__get_?"], "github", "get_x", True),
        (["github__get_?"], "github", "get_xy", False),
        (["db__query"], "db", "query", True),
        (["db__query"], "db", "query_all", False),  # a pattern matches the whole name
        (["db__q[uv]ery"], "db", "qvery", True),
        (["Github__*"], "github", "x", False),  # case-sensitive
        (["jira__*", "github__list_*"], "github", "list_repos", True),
        (["jira__*", "github__list_*"], "github", "delete_repo", False),
        (["*"], "anything", "at_all", True),
    ],
)
def test_tool_patterns_match_the_prefixed_name(
    patterns: list[str], server: str, tool: str, allowed: bool
) -> None:
    assert tool_allowed(key(mcp_tools=patterns), server, tool) is allowed


def test_a_tool_name_with_the_separator_is_matched_as_a_whole() -> None:
    assert tool_name("github", "create__issue") == "github__create__issue"
    assert tool_allowed(key(mcp_tools=["github__create__*"]), "github", "create__issue")
    assert not tool_allowed(key(mcp_tools=["github__create"]), "github", "create__issue")


def test_the_keys_agent_list() -> None:
    limited = key(a2a_agents=["planner"])
    assert agent_allowed(limited, "planner", None)
    assert not agent_allowed(limited, "coder", None)
    assert not agent_allowed(key(team="ml", a2a_agents=["planner"]), "planner", ["ops"])
