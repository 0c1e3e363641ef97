"""Guardrail configuration: validated on write, with the entry at fault named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.compliance.config import GuardrailConfig, PatternSpec, TermSpec


def test_defaults_run_every_scanner_on_the_full_profile() -> None:
    config = GuardrailConfig()
    assert config.profile == "full"
    assert config.scanners == ("pii", "secrets", "injection", "terms")
    assert config.phone_regions == ("US", "GB", "DE", "FR", "IN")


def test_a_bad_regex_names_its_pattern() -> None:
    with pytest.raises(ValueError, match=r"pattern 'employee_id': invalid regex: missing \)"):
        GuardrailConfig(patterns=({"name": "employee_id", "regex": "EMP-(\\d+"},))  # type: ignore[arg-type]


def test_a_regex_matching_the_empty_string_is_refused() -> None:
    with pytest.raises(ValueError, match="pattern 'anything': the regex matches the empty string"):
        PatternSpec(name="anything", regex="\\d*")


def test_pattern_names_are_unique() -> None:
    spec = PatternSpec(name="emp", regex="EMP-\\d{6}")
    with pytest.raises(ValueError, match="pattern 'emp' is defined twice"):
        GuardrailConfig(patterns=(spec, spec))


def test_an_unknown_phone_region_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"region 'XX' \(known: DE, FR, GB, IN, US\)"):
        GuardrailConfig(phone_regions=("US", "XX"))


@pytest.mark.parametrize(
    "change",
    [
        {"profile": "light"},
        {"scanners": ("pii", "viruses")},
        {"unknown": 1},
        {"patterns": ({"name": "p", "regex": "x", "confidence": 0},)},
        {"patterns": ({"name": "p", "regex": "x", "confidence": 1.5},)},
        {"patterns": ({"name": "1p", "regex": "x"},)},
        {"terms": ({"term": "   "},)},
        {"terms": ({"term": "x", "colour": "red"},)},
    ],
)
def test_invalid_settings_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GuardrailConfig.model_validate(change)


def test_frozen_and_round_trips_through_json() -> None:
    config = GuardrailConfig(
        profile="reduced",
        patterns=(PatternSpec(name="emp", regex="EMP-\\d{6}", type="employee_id"),),
        terms=(TermSpec(term="Project Bluefin"),),
        scanners=("pii", "pii", "terms"),
    )
    assert config.scanners == ("pii", "terms")
    with pytest.raises(ValidationError):
        config.profile = "full"
    assert GuardrailConfig.model_validate_json(config.model_dump_json()) == config
