"""The rollout's pure decisions: which services roll and in what order, what a new container's
observed state means, what to undo after a failure, what a deploy changed, what may be pruned."""

from __future__ import annotations

import pytest

from sfctl.deploy.deployment import split_reference, with_image
from sfctl.deploy.rollout import (
    ROLL_ORDER,
    SERVICE_STEPS,
    ContainerState,
    Observation,
    Step,
    Verdict,
    changed_services,
    changes,
    judge_new,
    plan_services,
    prune_candidates,
    stop_timeout,
    undo_steps,
)
from sfctl.errors import SfctlError
from sfctl.spec import Spec

OLD, NEW = "sha256:old", "sha256:new"
ALL = {name: [OLD] for name in ROLL_ORDER}


def test_every_service_on_another_image_rolls_the_proxy_last() -> None:
    assert plan_services(ALL, NEW, list(reversed(ROLL_ORDER))) == [
        "api-server",
        "compliance",
        "policy-perfect",
        "proxy",
    ]


def test_nothing_rolls_when_everything_runs_the_target() -> None:
    assert plan_services({name: [NEW] for name in ROLL_ORDER}, NEW, ROLL_ORDER) == []


def test_a_service_without_a_container_is_left_to_compose_up() -> None:
    running = {"proxy": [OLD]}
    assert plan_services(running, NEW, ROLL_ORDER) == ["proxy"]


def test_a_half_done_service_with_two_containers_still_rolls() -> None:
    running = {"proxy": [NEW, OLD]}
    assert plan_services(running, NEW, ROLL_ORDER) == ["proxy"]


def test_a_changed_definition_rolls_even_on_the_same_image() -> None:
    same = {name: [NEW] for name in ROLL_ORDER}
    assert plan_services(same, NEW, ROLL_ORDER, frozenset({"compliance"})) == ["compliance"]


def test_plan_refuses_names_that_are_not_gateway_services() -> None:
    with pytest.raises(ValueError, match="redis"):
        plan_services(ALL, NEW, ["redis"])


def test_changed_services_compares_definitions() -> None:
    old = {"services": {"proxy": {"image": "a"}, "api-server": {"image": "a"}}}
    new = {"services": {"proxy": {"image": "b"}, "api-server": {"image": "a"}}}
    assert changed_services(old, new, config_changed=False) == {"proxy"}
    assert changed_services(old, old, config_changed=False) == frozenset()
    assert changed_services(None, new, config_changed=True) == frozenset()  # first deploy
    assert changed_services(old, old, config_changed=True) == frozenset(ROLL_ORDER)


def _seen(**overrides: object) -> Observation:
    base: dict[str, object] = {
        "status": "running",
        "exit_code": None,
        "restarts": 0,
        "health": "starting",
        "ready": False,
        "probe": "/ready: connection refused",
        "elapsed_s": 1.0,
    }
    return Observation(**{**base, **overrides})  # type: ignore[arg-type]


def test_a_ready_container_takes_the_traffic() -> None:
    assert judge_new(_seen(ready=True), 60).verdict is Verdict.SWITCH


def test_a_starting_container_is_waited_for() -> None:
    assert judge_new(_seen(), 60).verdict is Verdict.WAIT


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"status": "exited", "exit_code": 3}, "exited with code 3"),
        ({"restarts": 2}, "restarted (2 times)"),
        ({"status": "restarting"}, "crashed"),
        ({"health": "unhealthy"}, "health check fails"),
        ({"elapsed_s": 60.0}, "within 60s (/ready: connection refused)"),
    ],
)
def test_a_container_that_cannot_become_ready_is_aborted_with_why(
    overrides: dict[str, object], reason: str
) -> None:
    decision = judge_new(_seen(**overrides), 60)
    assert decision.verdict is Verdict.ABORT
    assert reason in decision.reason


def test_ready_but_not_running_is_not_a_switch() -> None:
    assert judge_new(_seen(ready=True, status="exited", exit_code=0), 60).verdict is Verdict.ABORT


def test_a_failure_before_the_switch_removes_the_new_container_only() -> None:
    assert undo_steps(Step.START_NEW) == (Step.REMOVE_NEW,)
    assert undo_steps(Step.AWAIT_READY) == (Step.REMOVE_NEW,)


def test_a_failure_while_draining_finishes_removing_the_old_one() -> None:
    assert undo_steps(Step.DRAIN_OLD) == (Step.REMOVE_OLD,)
    assert Step.REMOVE_NEW not in undo_steps(Step.REMOVE_OLD)


def test_the_old_container_is_stopped_only_after_the_gate() -> None:
    assert SERVICE_STEPS.index(Step.AWAIT_READY) < SERVICE_STEPS.index(Step.DRAIN_OLD)


def test_docker_stop_outlasts_the_gateways_own_drain() -> None:
    assert stop_timeout(30) > 30


def _state(name: str, cid: str, status: str = "running") -> ContainerState:
    return ContainerState(name=name, service=name, id=cid, image_id=OLD, status=status)


def test_the_same_containers_are_no_change() -> None:
    same = [_state("proxy", "1"), _state("redis", "2")]
    assert changes(same, list(same)) == []


def test_changes_name_what_was_started_recreated_and_removed() -> None:
    before = [_state("proxy", "1"), _state("redis", "2"), _state("caddy", "3", "exited")]
    after = [_state("redis", "9"), _state("caddy", "3"), _state("proxy-2", "4")]
    assert changes(before, after) == [
        "caddy: exited -> running",
        "recreated redis",
        "removed proxy",
        "started proxy-2",
    ]


def test_prune_keeps_rollback_targets_and_running_images() -> None:
    deployed = ["a", "b", "c", "a", "d"]
    assert prune_candidates(deployed, frozenset({"b"}), frozenset({"d"})) == ["a", "c"]
    assert prune_candidates(deployed, frozenset(deployed), frozenset()) == []


def test_split_reference_keeps_a_registry_port() -> None:
    assert split_reference("registry:5000/smartflow/gateway:1.2") == (
        "registry:5000/smartflow/gateway",
        "1.2",
    )
    for bad in ("gateway", "registry:5000/gateway", ":tag"):
        with pytest.raises(SfctlError, match="not an image reference"):
            split_reference(bad)


def test_with_image_runs_a_built_image_without_building() -> None:
    spec = Spec.model_validate(
        {"domain": "localhost", "acme_email": "a@b.test", "image": {"build": {}}}
    )
    moved = with_image(spec, "smartflow/gateway:2.0")
    assert moved.image.reference == "smartflow/gateway:2.0"
    assert moved.image.build is None
    assert spec.image.build is not None  # the spec itself is unchanged
