"""Reading policy files for `sfctl policy` (sfctl.policy_files), and the few words its tables
use for a policy (sfctl.commands.policy): in process, no gateway. What a bad file looks like on
the command line (one line, exit 1) is in test_policy_cli.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sfctl.commands.policy import (
    action_text,
    applied_line,
    bound_text,
    is_deny,
    rule_count,
    when,
)
from sfctl.policy_files import (
    PolicyFileError,
    PolicyRejected,
    check_document,
    load_json_object,
    load_policies,
    parse_documents,
)

ONE = "name: a\nrules:\n  - name: r\n    action: log\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(PolicyFileError) as caught:
        load_policies(path)
    assert caught.value.exit_code == 1
    message = str(caught.value)
    assert "\n" not in message
    return message.removeprefix(f"{path.parent}/")


def test_one_document_several_and_a_list() -> None:
    assert parse_documents(ONE, "p.yaml") == [
        {"name": "a", "rules": [{"name": "r", "action": "log"}]}
    ]
    several = parse_documents(ONE + "---\n" + ONE.replace("name: a", "name: b") + "---\n", "p.yaml")
    assert [d["name"] for d in several] == ["a", "b"]  # the empty trailing document is skipped
    assert parse_documents('[{"name": "a"}, {"name": "b"}]', "p.json") == [
        {"name": "a"},
        {"name": "b"},
    ]
    assert parse_documents("- name: a\n- name: b\n", "p.yml") == [{"name": "a"}, {"name": "b"}]
    assert parse_documents('{"name": "a"}', "p.yaml") == [{"name": "a"}]  # JSON is YAML too


def test_load_policies_keeps_the_files_order(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", ONE + "---\n" + ONE.replace("name: a", "name: b"))
    loaded = load_policies(path)
    assert [(p.name, p.index) for p in loaded] == [("a", 1), ("b", 2)]
    assert loaded[1].document["rules"] == [{"name": "r", "action": "log"}]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "name: x\nrules:\n  - name: a\n   when: true\n",
         "bad.yaml: not valid YAML at line 4, column 4: expected <block end>, but found "
         "'<block mapping start>'"),
        ("tab.yaml", "name: x\n\tbad: 1\n", "tab.yaml: not valid YAML at line 2, column 1: "),
        ("bad.json", '{"name": "x",\n "rules": [}',
         "bad.json: not valid JSON at line 2, column 12: Expecting value"),
        ("list.yaml", "- 1\n- 2\n",
         "list.yaml: document 1: a policy is a mapping (name, rules, ...), not a number"),
        ("scalar.yaml", "just words\n",
         "scalar.yaml: a policy is a mapping (name, rules, ...), not text"),
        ("second.yaml", ONE + "---\n- x\n",
         "second.yaml: document 2: a policy is a mapping (name, rules, ...), not a list"),
        ("noname.yaml", "rules: []\n", "noname.yaml: the policy has no 'name'"),
        ("numbered.yaml", "name: 7\n", "numbered.yaml: 'name' must be a non-empty string, not a number"),
        ("blank.yaml", "name: ' '\n", "blank.yaml: 'name' must be a non-empty string, not text"),
        ("empty.yaml", "\n# nothing\n", "empty.yaml holds no policy document"),
        ("twice.yaml", "name: a\nrules:\n  - name: r\n    when: 'true'\n    when: 'false'\n",
         "twice.yaml: not valid YAML at line 5, column 5: key 'when' given twice (first at line 4)"),
        ("dupes.yaml", ONE + "---\n" + ONE,
         "dupes.yaml: document 2: policy 'a' is also document 1; give each once"),
        ("keys.yaml", "name: a\nbound_to:\n  1: x\n",
         "keys.yaml: bound_to has a key that is not text: 1 (quote it)"),
        ("set.yaml", "name: a\ntags: !!set {x}\n", "set.yaml: tags: set is not JSON data"),
        ("code.yaml", "name: !!python/name:os.system\n", "code.yaml: not valid YAML at line 1, column 7: "),
    ],
)  # fmt: skip
def test_unusable_files_are_one_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    assert refused(write(tmp_path, name, text)).startswith(message)


def test_unreadable_files(tmp_path: Path) -> None:
    assert refused(tmp_path / "nope.yaml") == "nope.yaml: no such file"
    assert str(_error(lambda: load_policies(tmp_path))) == f"{tmp_path} is a directory, not a file"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert refused(latin) == "latin.yaml is not UTF-8 text"


def _error(call: object) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_yaml_dates_become_text_and_the_rest_stays() -> None:
    document = {"name": "a", "description": dt.date(2026, 12, 2), "rules": [{"n": 1.5, "b": True}]}
    assert check_document(document, "p.yaml") == {
        "name": "a",
        "description": "2026-12-02",
        "rules": [{"n": 1.5, "b": True}],
    }


def test_request_files(tmp_path: Path) -> None:
    good = write(tmp_path, "r.json", '{"model": "gpt-4o", "messages": []}')
    assert load_json_object(good, "request") == {"model": "gpt-4o", "messages": []}
    listed = write(tmp_path, "l.json", "[1]")
    assert str(_error(lambda: load_json_object(listed, "request"))) == (
        f"{listed}: the request must be a JSON object, not a list"
    )
    broken = write(tmp_path, "b.json", "{\n  nope\n}")
    assert str(_error(lambda: load_json_object(broken, "request"))).startswith(
        f"{broken}: the request is not valid JSON at line 2, column 3:"
    )


def test_a_refusal_leads_with_its_location_once() -> None:
    said = PolicyRejected(
        "rules[2].when: unknown field", code="invalid_policy", location="rules[2].when"
    )
    assert said.where() == "rules[2].when: unknown field"
    bare = PolicyRejected("is at version 3", code="version_conflict", location="version")
    assert bare.where() == "version: is at version 3"
    assert PolicyRejected("bad", code=None, location=None).where() == "bad"


def test_words_for_a_policy() -> None:
    assert bound_text({}) == "all requests"
    assert bound_text({"bound_to": {"keys": ["k1"], "teams": ["ml"], "models": ["gpt-4*"]}}) == (
        "key:k1, team:ml, model:gpt-4*"
    )
    assert rule_count({"rules": [{}, {}]}) == 2 and rule_count({"rules": 5}) == 5
    assert rule_count({}) == 0
    assert action_text({"type": "deny", "message": "no"}) == "deny: no"
    assert action_text({"type": "redact", "types": ["email"], "replacement": "mask"}) == (
        "redact email (mask)"
    )
    assert action_text({"type": "redact"}) == "redact every finding type (placeholder)"
    assert action_text({"type": "route", "model": "m"}) == "route to m"
    assert action_text({"type": "cache", "bypass": True}) == "bypass the cache"
    assert action_text({"type": "cache", "namespace": "n"}) == "cache namespace n"
    assert action_text({"type": "inspect", "profile": "full"}) == "inspect with the full profile"
    assert action_text({"type": "log"}) == "log" and action_text("allow") == "allow"
    assert applied_line({"name": "a", "version": 1}) == "policy a: version 1 (created)"
    assert applied_line({"name": "a", "version": 4, "note": "rollback to v1"}) == (
        "policy a: version 4 (rollback to v1)"
    )
    assert when(0) == "1970-01-01 00:00 UTC"
    assert when("2026-12-02T18:00:00+01:00") == "2026-12-02 17:00 UTC"
    assert when(None) == "-" and when("soon") == "soon"


def test_deny_in_either_direction() -> None:
    deny = {"decision": {"action": {"type": "deny", "message": "x"}}}
    allow = {"decision": {"action": {"type": "allow"}}}
    assert is_deny(deny) and not is_deny(allow)
    assert is_deny({**allow, "response": deny})
    assert not is_deny({**allow, "response": allow})
