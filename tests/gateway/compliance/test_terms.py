"""Organisation term lists: case-insensitive, whole-word, multi-word, longest first."""

from __future__ import annotations

import pytest

from gateway.compliance.terms import Term, TermList

TERMS = TermList(
    [
        "Project Bluefin",
        "Bluefin",
        "Project Bluefin Ultra",
        "Acme Corp",
        "C++",
        Term("db-prod-01.internal", type="internal_host", confidence=0.9),
        ".NET",
    ],
    name="acme",
)

# (text, expected [(matched text, rule)])
CASES = [
    ("The Bluefin launch slipped.", [("Bluefin", "acme[1]")]),
    ("bluefin", [("bluefin", "acme[1]")]),
    ("BLUEFIN!", [("BLUEFIN", "acme[1]")]),
    ("Status of project bluefin?", [("project bluefin", "acme[0]")]),
    ("project\n  Bluefin", [("project\n  Bluefin", "acme[0]")]),
    ("Project Bluefin Ultra is late", [("Project Bluefin Ultra", "acme[2]")]),
    (
        "acme corp, and C++ and .NET",
        [("acme corp", "acme[3]"), ("C++", "acme[4]"), (".NET", "acme[6]")],
    ),
    ("ssh db-prod-01.internal.", [("db-prod-01.internal", "acme[5]")]),
    ("Bluefin and bluefin", [("Bluefin", "acme[1]"), ("bluefin", "acme[1]")]),
    ("Project Bluefin Ultrasound", [("Project Bluefin", "acme[0]")]),
    ("Project Bluefin Ultra.", [("Project Bluefin Ultra", "acme[2]")]),
]
NO_MATCH = [
    "Bluefins are fish",
    "The bluefin_tuna table",
    "xBluefin",
    "Acme Corporation",
    "AcmeCorp",
    "db-prod-01.internalx",
    "Project",
    "",
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_terms_match(text: str, expected: list[tuple[str, str]]) -> None:
    findings = TERMS.scan(text)
    assert [(text[f.start : f.end], f.rule) for f in findings] == expected
    assert all(f.scanner == "terms" for f in findings)


@pytest.mark.parametrize("text", NO_MATCH)
def test_terms_do_not_match_inside_words(text: str) -> None:
    assert TERMS.scan(text) == []


def test_term_type_and_confidence_come_from_the_term() -> None:
    (finding,) = TERMS.scan("db-prod-01.internal")
    assert (finding.type, finding.confidence) == ("internal_host", 0.9)
    (plain,) = TERMS.scan("Bluefin")
    assert (plain.type, plain.confidence) == ("org_term", 1.0)


def test_rule_names_the_index_not_the_term() -> None:
    (finding,) = TERMS.scan("Project Bluefin")
    assert "Bluefin" not in str(finding.as_dict())


def test_duplicates_keep_the_first_entry() -> None:
    terms = TermList(["Falcon", "FALCON", "falcon"])
    assert [f.rule for f in terms.scan("falcon")] == ["org_terms[0]"]
    assert len(terms) == 3


def test_empty_list_matches_nothing() -> None:
    assert TermList([]).scan("anything at all") == []


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_term_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match=r"org_terms\[1\]"):
        TermList(["ok", bad])


def test_regex_characters_are_literal() -> None:
    terms = TermList(["a.b", "x*y"])
    assert [f.rule for f in terms.scan("axb xxy x*y")] == ["org_terms[1]"]
    assert [f.rule for f in terms.scan("a.b and x*y")] == ["org_terms[0]", "org_terms[1]"]


def test_many_terms_sharing_prefixes() -> None:
    terms = TermList([f"Project Codename{i}" for i in range(300)] + ["Acme"])
    text = "project codename42 and Project Codename4, not Project Codename4x; acme."
    found = [(text[f.start : f.end], f.rule) for f in terms.scan(text)]
    assert found == [
        ("project codename42", "org_terms[42]"),
        ("Project Codename4", "org_terms[4]"),
        ("acme", "org_terms[300]"),
    ]
