"""`sfctl verify k8s`: each pod of the release against the expected build, on pod dumps written
as `kubectl get pods -o json` prints the chart's pods (fixtures/pods, made by its generate.py
from the chart's own templates): one build; an upgrade half done (mixed builds); a tag pushed
twice, so one pod runs another digest; a crash-looping upgrade. The exec answers are what
`smartflow-gateway --version --json` prints; the exec failures are what the API server and the
websocket client report. The `--from-file` cases run through the real CLI at 80 columns."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from sfctl.deploy.verify import ExecFailure, Expected, FieldCheck, Row, VersionAnswer
from sfctl.deploy.verify_facts import parse_answer
from sfctl.errors import UsageError
from sfctl.kube.api import KubeTarget, api_client
from sfctl.kube.pod_exec import exit_status, refusal, version_answers
from sfctl.kube.pods import (
    PodView,
    checked_pods,
    image_digest,
    name_shortener,
    pinned_digest,
    pod_view,
    reference_tag,
    release_pods,
)
from sfctl.kube.release import Releases
from sfctl.kube.verify_k8s import (
    NOT_EXPOSED,
    K8sReport,
    PodExpectation,
    choose_expectation,
    docker_labels,
    exit_code,
    from_image,
    from_options,
    no_labels,
    report_table,
    verify_pods,
)

from support.helm_chart import CHART
from support.kube_fake import FakeCluster, kube_cluster
from support.sfctl_cli import sfctl

PODS = Path(__file__).parent / "fixtures" / "pods"
NOW = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)  # the fixtures' clock
COMMIT = "d55e761f0c3c1f0e5a4b2f9d8e7c6b5a4f3e2d1c"
NEW_COMMIT = "4f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
REPO = "registry.example.com/smartflow/gateway"
#: the fixtures' digests (generate.py: sha256 of these names)
V1 = "sha256:66247658955676be148779eb52c4cb2cbc895f73ecca5ea91e72ae12dc888f84"
V2 = "sha256:09c96482f46e99db53bb9ea08a9a865842d1d00661c89a6fc107273aa4163056"


def load(name: str) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((PODS / f"{name}.json").read_text())
    items: list[dict[str, Any]] = data["items"]
    return items


def pods(name: str) -> list[PodView]:
    return release_pods(load(name), "smartflow", NOW)


def answer(
    version: str, commit: str = COMMIT, service: str = "proxy"
) -> VersionAnswer | ExecFailure:
    """What the gateway prints for `--version --json`, parsed as verify parses it."""
    printed = json.dumps(
        {
            "name": "smartflow-gateway",
            "version": version,
            "git_commit": commit,
            "build_time": "2025-06-01T09:00:00Z",
            "service": service,
            "features": ["openai", "anthropic", "streaming", "routing", "metrics"],
        }
    )
    return parse_answer(0, printed + "\n", "")


def answers_by_tag(
    found: list[PodView], commits: dict[str, str] | None = None
) -> dict[tuple[str, str], VersionAnswer | ExecFailure]:
    """Each running gateway answers with the version its image tag names."""
    result: dict[tuple[str, str], VersionAnswer | ExecFailure] = {}
    for pod in found:
        for c in pod.containers:
            if c.gateway and c.state == "running":
                tag = reference_tag(c.image) or "?"
                result[(pod.name, c.name)] = answer(tag, (commits or {}).get(tag, COMMIT))
    return result


def expect(
    version: str | None = None, commit: str | None = None, digest: str | None = None
) -> PodExpectation:
    chosen = from_options(version, commit, [], digest)
    assert chosen is not None
    return chosen


def check(row: Row, name: str) -> FieldCheck:
    found = row.check(name)
    assert found is not None, f"{row.container} has no {name} check"
    return found


def row_for(report: K8sReport, prefix: str) -> Any:
    return next(r for r in report.report.rows if r.container.startswith(f"smartflow-{prefix}"))


# --- pod facts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        (f"docker-pullable://{REPO}@{V1}", V1),  # dockershim
        (f"{REPO}@{V1}", V1),  # containerd, CRI-O
        (f"docker.io/library/redis@{V2}", V2),
        (V1, V1),  # an image known only locally
        (f"docker://{V1}", V1),
        ("", None),  # not pulled yet
        (f"{REPO}:0.1.0", None),
        ("sha256:abc", None),
    ],
)
def test_the_digest_is_read_from_every_imageid_spelling(image_id: str, digest: str | None) -> None:
    assert image_digest(image_id) == digest


def test_references_pin_digests_and_name_tags() -> None:
    assert pinned_digest(f"{REPO}@{V1}") == V1
    assert pinned_digest(f"{REPO}:0.1.0@{V1}") == V1
    assert pinned_digest(f"{REPO}:0.1.0") is None
    assert reference_tag(f"{REPO}:0.1.0") == "0.1.0"
    assert reference_tag(f"{REPO}:0.1.0@{V1}") == "0.1.0"
    assert reference_tag("registry.example.com:5000/smartflow/gateway") is None  # a port
    assert reference_tag("redis:7.2-alpine") == "7.2-alpine"


def test_the_chart_pods_facts() -> None:
    found = pods("one-build")
    assert [p.component for p in found] == [
        "api-server",
        "api-server",
        "compliance",
        "policy-perfect",
        "proxy",
        "proxy",
        "redis",
        "timescaledb",
    ]
    proxy = next(p for p in found if p.component == "proxy")
    (container,) = proxy.containers
    assert container.gateway and container.ready and container.state == "running"
    assert container.image == f"{REPO}:0.1.0"
    assert container.digest == V1 and container.image_id == f"{REPO}@{V1}"
    assert proxy.node in ("node-1", "node-2", "node-3") and proxy.phase == "Running"
    assert proxy.age_s == pytest.approx((2 * 24 + 3) * 3600.0)
    redis = next(p for p in found if p.component == "redis")
    assert not redis.gateway and redis.containers[0].image == "redis:7.2-alpine"
    assert redis.containers[0].image_id.startswith("docker.io/library/redis@sha256:")


def test_a_crash_looping_an_unschedulable_and_an_unpulled_pod() -> None:
    found = {p.name: p for p in pods("crash-loop")}
    crash = next(p for p in found.values() if p.containers[0].reason == "CrashLoopBackOff")
    (c,) = crash.containers
    assert c.state == "waiting" and c.restarts == 5 and c.exit_code == 1
    assert c.exit_reason == "Error" and not c.ready and c.digest is not None
    pending = next(
        p
        for p in found.values()
        if p.phase == "Pending" and not p.containers[0].image_id and p.reason
    )
    assert pending.reason == "Unschedulable" and pending.node is None
    assert pending.containers[0].state == "pending"
    pulling = next(p for p in found.values() if p.containers[0].reason == "ImagePullBackOff")
    assert pulling.containers[0].digest is None
    assert pulling.containers[0].image == f"{REPO}:0.3.1"


def test_helm_hooks_and_other_releases_are_not_the_releases_pods() -> None:
    raw = load("one-build")
    hook = json.loads(json.dumps(raw[0]))
    hook["metadata"]["name"] = "smartflow-test-health"
    hook["metadata"]["annotations"] = {"helm.sh/hook": "test"}
    other = json.loads(json.dumps(raw[1]))
    other["metadata"]["labels"]["app.kubernetes.io/instance"] = "staging"
    names = [p.name for p in release_pods([*raw, hook, other], "smartflow", NOW)]
    assert "smartflow-test-health" not in names and len(names) == 8
    assert [p.name for p in release_pods([*raw, other], "staging", NOW)] == [
        other["metadata"]["name"]
    ]


def test_terminating_pods_are_left_out_while_their_component_runs_others() -> None:
    raw = load("one-build")
    gone = json.loads(json.dumps(raw[0]))  # an api-server pod
    gone["metadata"]["name"] += "-old"
    gone["metadata"]["deletionTimestamp"] = "2025-06-02T11:59:30Z"
    _, skipped = checked_pods(release_pods([*raw, gone], "smartflow", NOW))
    assert [p.name for p in skipped] == [gone["metadata"]["name"]]
    alone, skipped_alone = checked_pods([pod_view(gone, NOW)])
    assert [p.name for p in alone] == [gone["metadata"]["name"]] and skipped_alone == []


# --- verify against the cluster (exec answers) ---------------------------------------------


def test_one_build_with_the_gateways_answers_matches() -> None:
    found = pods("one-build")
    report = verify_pods(
        expect("0.1.0", COMMIT[:9], V1),
        found,
        answers_by_tag(found),
        no_labels,
        release="smartflow",
    )
    assert report.ok and exit_code(report) == 0 and not report.mixed
    proxy = row_for(report, "proxy")
    fields = {c.field: c.match for c in proxy.checks}
    assert fields == {
        "version": True,
        "commit": True,
        "label version": None,  # not exposed: not a mismatch
        "label revision": None,
        "image": True,
    }
    assert check(proxy, "label version").note == NOT_EXPOSED
    redis = row_for(report, "redis")
    assert [c.field for c in redis.checks] == ["image"] and redis.ok
    assert report.image_only == ("smartflow-redis-0", "smartflow-timescaledb-0")
    assert any("image labels" in text for text in report.not_checked)
    assert len(report.builds) == 1 and report.builds[0].name == f"0.1.0 ({COMMIT[:8]})"


def test_a_version_mismatch_fails_with_the_pods_named() -> None:
    found = pods("one-build")
    report = verify_pods(
        expect("0.2.0"), found, answers_by_tag(found), no_labels, release="smartflow"
    )
    assert exit_code(report) == 1
    columns, cells, notes = report_table(report, name_shortener("smartflow"))
    assert columns == ["pod", "version", "commit", "image", "ok"]
    assert cells[0][0].text.startswith("api-server-")  # the release prefix is shortened
    bad = [row[0].text for row in cells if row[-1].bad]
    assert len(bad) == 6 and "redis-0" not in bad
    assert any(n.endswith("version: expected 0.2.0, found 0.1.0") for n in notes)


def test_mixed_builds_name_which_pods_run_which_build() -> None:
    found = pods("mixed-builds")
    answers = answers_by_tag(found, {"0.2.0": NEW_COMMIT})
    report = verify_pods(
        expect("0.2.0", NEW_COMMIT), found, answers, no_labels, release="smartflow"
    )
    assert report.mixed and exit_code(report) == 1
    builds = {b.name: b for b in report.builds}
    old, new = builds[f"0.1.0 ({COMMIT[:8]})"], builds[f"0.2.0 ({NEW_COMMIT[:8]})"]
    assert old.digest == V1 and new.digest == V2
    assert [p.split("-")[1] for p in old.pods] == ["api", "policy"]
    assert len(new.pods) == 4
    _, _, notes = report_table(report, name_shortener("smartflow"))
    assert "mixed builds: 2 images run the gateway pods" in notes
    assert any(
        n.strip().startswith(f"0.1.0 ({COMMIT[:8]}) @662476589556: api-server-") for n in notes
    )
    payload = report.to_json()
    assert payload["mixed_builds"] is True and payload["ok"] is False
    assert {tuple(b["pods"]) for b in payload["builds"]} == {old.pods, new.pods}


def test_mixed_builds_fail_even_when_nothing_else_is_expected() -> None:
    found = pods("mixed-builds")
    nothing = PodExpectation(Expected(version=None, label_version=None, commit=None))
    report = verify_pods(nothing, found, answers_by_tag(found), no_labels, release="smartflow")
    assert all(r.ok for r in report.report.rows)
    assert not report.ok and report.problems[0].startswith("mixed builds")


def test_a_pod_whose_imageid_differs_from_the_expected_digest() -> None:
    """The tag 0.2.0 was pushed twice: one node's cached image runs under the same reference."""
    found = pods("digest-differs")
    assert {p.containers[0].image for p in found if p.gateway} == {f"{REPO}:0.2.0"}
    report = verify_pods(
        expect("0.2.0", COMMIT, V2), found, answers_by_tag(found), no_labels, release="smartflow"
    )
    assert exit_code(report) == 1
    bad = [r for r in report.report.rows if not r.ok]
    assert len(bad) == 1
    (mismatch,) = bad[0].mismatches
    assert mismatch.field == "image" and mismatch.expected == V2
    assert mismatch.observed is not None and V2 not in mismatch.observed
    assert report.mixed  # and named as such: same version, another image
    assert {b.digest for b in report.builds} == {
        V2,
        image_digest(mismatch.observed.split(", ")[-1]),
    }


def test_a_reference_pinned_by_digest_is_the_expected_digest() -> None:
    """With no expectation of a digest, a pod spec pinned by digest must run that digest."""
    raw = load("one-build")
    pinned = json.loads(json.dumps(raw[0]))
    pinned["spec"]["containers"][0]["image"] = f"{REPO}@{V2}"  # it runs V1: another image
    found = release_pods([pinned], "smartflow", NOW)
    answers = {(found[0].name, "api-server"): answer("0.1.0", service="api-server")}
    report = verify_pods(expect("0.1.0"), found, answers, no_labels, release="smartflow")
    (row,) = report.report.rows
    assert [(c.field, c.expected) for c in row.mismatches] == [("image", V2)]


def test_a_crash_looping_pod_is_a_mismatch_with_its_state() -> None:
    found = pods("crash-loop")
    report = verify_pods(
        expect("0.2.0"), found, answers_by_tag(found), no_labels, release="smartflow"
    )
    problems = {r.container: r.problem for r in report.report.rows if r.problem}
    crash = next(v for k, v in problems.items() if k.startswith("smartflow-proxy"))
    assert crash == "not running (CrashLoopBackOff, exit code 1)"
    assert "not running (Pending: Unschedulable)" in problems.values()
    assert "not running (ImagePullBackOff)" in problems.values()
    unpulled = next(r for r in report.report.rows if r.problem == "not running (ImagePullBackOff)")
    assert check(unpulled, "image").note == "not pulled yet: no imageID"


def test_an_exec_refused_by_rbac_is_a_reason_not_a_crash() -> None:
    """What the kubernetes client raises when the websocket handshake gets a 403."""
    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'pods "smartflow-proxy-x" is forbidden: User "system:serviceaccount:ci:'
            'deployer" cannot create resource "pods/exec" in API group "" in the namespace '
            '"smartflow"',
            "reason": "Forbidden",
            "details": {"name": "smartflow-proxy-x", "kind": "pods"},
            "code": 403,
        }
    )
    exc = ApiException(
        status=0,
        reason=f"Handshake status 403 Forbidden -+-+- {{'audit-id': 'x', 'content-type': "
        f"'application/json'}} -+-+- {body}",
    )
    reason = refusal(exc, "smartflow")
    assert reason.startswith("exec refused (403): the credentials lack RBAC `create` on pods/exec")
    assert 'cannot create resource "pods/exec"' in reason
    found = pods("one-build")
    refused = {key: ExecFailure(reason) for key in answers_by_tag(found)}
    report = verify_pods(expect("0.1.0"), found, refused, no_labels, release="smartflow")
    assert exit_code(report) == 1
    _, _, notes = report_table(report, name_shortener("smartflow"))
    (note,) = [n for n in notes if "exec refused" in n]  # one line for all six pods
    assert note.count(", ") >= 5
    older = ApiException(
        status=0, reason=f"Handshake status 403 Forbidden -+-+- {{}} -+-+- b'{body}'"
    )
    assert "pods/exec" in refusal(older, "smartflow")
    gone = ApiException(status=0, reason="Handshake status 404 Not Found -+-+- {} -+-+- None")
    assert refusal(gone, "smartflow").startswith("the pod is gone (404)")
    unreachable = ApiException(status=0, reason="[Errno 111] Connection refused")
    assert "no answer from the API server" in refusal(unreachable, "smartflow")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ('{"metadata":{},"status":"Success"}', 0),
        ("", 0),
        (
            '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit '
            'code: error executing command [smartflow-gateway --version --json], exit code 2",'
            '"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"2"}]}}',
            2,
        ),
        (
            '{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing '
            "command in container: failed to exec in container: failed to start exec: OCI runtime "
            "exec failed: exec failed: unable to start container process: exec: "
            '\\"smartflow-gateway\\": executable file not found in $PATH: unknown",'
            '"reason":"InternalError","details":{"causes":[{"message":"error executing command"}]},'
            '"code":500}',
            127,
        ),
    ],
)
def test_the_exit_code_comes_from_the_error_channel(error: str, code: int) -> None:
    found, message = exit_status(error)
    assert found == code
    if code == 127:
        failure = parse_answer(found, "", message)
        assert isinstance(failure, ExecFailure) and "no smartflow-gateway" in failure.reason


# --- offline: what a dump can and cannot say -----------------------------------------------


def test_offline_the_tag_stands_in_for_the_version_and_exec_checks_are_named() -> None:
    report = verify_pods(expect("0.1.0"), pods("one-build"), None, no_labels, release="smartflow")
    assert report.ok and report.offline
    proxy = row_for(report, "proxy")
    checks = {c.field: (c.match, c.note) for c in proxy.checks}
    assert checks["tag version"] == (True, None)
    assert checks["version"] == (None, "not checked offline: needs exec in the pod")
    assert checks["label version"] == (None, NOT_EXPOSED)
    assert any("need exec in the pods" in t for t in report.not_checked)
    wrong = verify_pods(expect("0.2.0"), pods("one-build"), None, no_labels, release="smartflow")
    assert {c.field for r in wrong.report.rows for c in r.mismatches} == {"tag version"}


def test_offline_nothing_checkable_is_a_failure_not_a_pass() -> None:
    report = verify_pods(
        expect(commit=COMMIT), pods("one-build"), None, no_labels, release="smartflow"
    )
    assert all(r.ok for r in report.report.rows)
    assert not report.ok
    assert report.problems == (
        "nothing expected could be checked offline: pass --expect-version or --expect-digest",
    )


def test_a_tag_that_names_no_version_is_not_checked() -> None:
    raw = load("one-build")
    latest = json.loads(json.dumps(raw[0]))
    latest["spec"]["containers"][0]["image"] = f"{REPO}:latest"
    found = release_pods([latest], "smartflow", NOW)
    report = verify_pods(expect("0.1.0", digest=V1), found, None, no_labels, release="smartflow")
    (row,) = report.report.rows
    assert check(row, "tag version").match is None
    assert check(row, "tag version").note == "the tag 'latest' names no version"
    assert check(row, "image").match is True and report.ok


# --- what is expected ----------------------------------------------------------------------


def test_the_installed_release_image_gives_the_expectation() -> None:
    tagged = from_image(f"{REPO}:0.2.0", ["streaming"], "the installed release smartflow")
    assert tagged.build.version == "0.2.0" and tagged.build.label_version == "0.2.0"
    assert tagged.build.commit is None and tagged.digest is None
    assert tagged.build.features == ("streaming",)
    assert tagged.build.source == f"the installed release smartflow ({REPO}:0.2.0)"
    dirty = from_image(f"{REPO}:0.2.0_uncommitted_abcdef123456", [], "x")
    assert dirty.build.version == "0.2.0"
    assert dirty.build.label_version == "0.2.0_uncommitted_abcdef123456"
    pinned = from_image(f"{REPO}@{V2}", [], "x")
    assert pinned.digest == V2 and pinned.build.version is None
    moving = from_image(f"{REPO}:stable", [], "x")
    assert moving.build.version is None and not moving.anything


def test_the_options_then_the_release_then_the_checkout() -> None:
    checkout = Expected(version="0.1.0", label_version="0.1.0", commit=COMMIT)
    release = from_image(f"{REPO}:0.2.0", [], "the installed release")
    options = expect("0.3.0")
    assert choose_expectation(options, lambda: release, lambda: checkout, []) is options
    assert choose_expectation(None, lambda: release, lambda: checkout, []) is release
    fallback = choose_expectation(None, lambda: None, lambda: checkout, ["mcp"])
    assert fallback.build.version == "0.1.0" and fallback.build.features == ("mcp",)
    with pytest.raises(UsageError, match="nothing to compare with"):
        choose_expectation(None, lambda: None, lambda: None, [])
    digest_only = expect(digest=f"{REPO}@{V1}")
    assert digest_only.digest == V1 and digest_only.build.version is None
    with pytest.raises(UsageError, match="--expect-digest"):
        from_options(None, None, [], "latest")


# --- labels, when a local Docker engine holds the image -------------------------------------


@pytest.mark.docker
def test_labels_are_read_from_a_local_docker_image_with_the_same_digest(tmp_path: Path) -> None:
    """A node on Docker with a locally built image: the imageID is the image's id."""
    archive = tmp_path / "empty.tar"
    subprocess.run(["tar", "-cf", str(archive), "--files-from", "/dev/null"], check=True)
    name = f"sfctl-test-k8s-labels:{tmp_path.name.lower()[-20:]}"
    done = subprocess.run(
        [
            "docker",
            "import",
            "--change",
            "LABEL org.opencontainers.image.version=0.1.0",
            "--change",
            f"LABEL org.opencontainers.image.revision={COMMIT}",
            str(archive),
            name,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    image_id = done.stdout.strip()
    try:
        raw = load("one-build")
        local = json.loads(json.dumps(raw[0]))
        local["status"]["containerStatuses"][0]["imageID"] = f"docker://{image_id}"
        found = release_pods([local, raw[1]], "smartflow", NOW)
        labels = docker_labels()
        assert labels(f"docker://{image_id}") == {
            "org.opencontainers.image.version": "0.1.0",
            "org.opencontainers.image.revision": COMMIT,
        }
        assert labels(f"{REPO}@{V1}") is None  # not on this engine: not exposed, no error
        report = verify_pods(
            expect("0.1.0", COMMIT), found, answers_by_tag(found), labels, release="smartflow"
        )
        seen, unseen = report.report.rows
        assert check(seen, "label version").match is True
        assert check(seen, "label revision").match is True
        assert check(unseen, "label version").note == NOT_EXPOSED
        assert not any("image labels" in t for t in report.not_checked)
        wrong = verify_pods(
            expect("0.2.0"), found[:1], answers_by_tag(found[:1]), labels, release="smartflow"
        )
        assert {c.field for c in wrong.report.rows[0].mismatches} == {"version", "label version"}
    finally:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True, check=False)


# --- through the CLI, offline, at 80 columns ------------------------------------------------


def run(tmp_path: Path, dump: str, *options: str) -> subprocess.CompletedProcess[str]:
    done = sfctl(
        "verify",
        "k8s",
        "--from-file",
        str(PODS / f"{dump}.json"),
        *options,
        cwd=tmp_path,
        columns=80,
    )
    assert "Traceback" not in done.stderr
    if "json" not in options:  # JSON is for programs: its lines may be as long as they need
        for line in done.stdout.splitlines():
            assert len(line) <= 80, line
    return done


def test_cli_one_build_passes(tmp_path: Path) -> None:
    done = run(tmp_path, "one-build", "--expect-version", "0.1.0")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "expected: version 0.1.0 (the options)" in out
    assert "verify smartflow (one-build.json, offline)" in out
    assert "proxy-" in out and "smartflow-proxy-" not in out  # names shortened to fit
    assert "redis-0, timescaledb-0: not the gateway; image shown, version not checked" in out
    assert "not checked: the version, commit and features the gateway reports" in out
    assert "✓ 8 pods run the expected build" in out


def test_cli_mixed_builds_are_called_out(tmp_path: Path) -> None:
    done = run(tmp_path, "mixed-builds", "--expect-version", "0.2.0")
    assert done.returncode == 1
    out = done.stdout
    assert "✗ mixed builds: 2 images run the gateway pods" in out
    assert "0.2.0 @09c96482f46e: api-server-" in out
    assert "0.1.0 @662476589556: api-server-" in out
    assert "tag version: expected 0.2.0, found 0.1.0" in " ".join(out.split())


def test_cli_a_pod_whose_imageid_differs_from_the_expected_digest(tmp_path: Path) -> None:
    done = run(tmp_path, "digest-differs", "--expect-version", "0.2.0", "--expect-digest", V2)
    assert done.returncode == 1
    flat = " ".join(done.stdout.split())
    assert f"expected: version 0.2.0, digest {V2} (the options)" in flat
    odd = next(p for p in pods("digest-differs") if p.gateway and p.containers[0].digest != V2)
    short, found = name_shortener("smartflow")(odd.name), odd.containers[0].digest or ""
    assert f"{short}: image: expected {V2}, found {found}" in flat
    assert "mixed builds: 2 images run the gateway pods" in flat
    (bad,) = [line for line in done.stdout.splitlines() if line.startswith("│") and "✗ no" in line]
    assert "proxy-" in bad and "✗ " in bad.split("│")[4]  # the image cell is marked


def test_cli_crash_loop_is_named(tmp_path: Path) -> None:
    done = run(tmp_path, "crash-loop", "--expect-version", "0.2.0")
    assert done.returncode == 1
    flat = " ".join(done.stdout.split())
    assert ": not running (CrashLoopBackOff, exit code 1)" in flat
    assert ": not running (Pending: Unschedulable)" in flat


def test_cli_json_has_everything(tmp_path: Path) -> None:
    done = run(tmp_path, "digest-differs", "--expect-digest", V2, "-o", "json")
    assert done.returncode == 1
    payload = json.loads(done.stdout)
    assert payload["offline"] is True and payload["mixed_builds"] is True
    assert payload["expected"]["digest"] == V2
    assert len(payload["pods"]) == 8 and len(payload["containers"]) == 8
    first = payload["pods"][0]
    assert {"name", "node", "age_s", "containers", "restarts"} <= set(first)
    assert first["containers"][0]["digest"].startswith("sha256:")
    assert payload["not_checked"] and payload["image_only"] == [
        "smartflow-redis-0",
        "smartflow-timescaledb-0",
    ]


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    nothing = run(tmp_path, "one-build")  # no option, no checkout in tmp_path, no cluster
    assert nothing.returncode == 2 and "nothing to compare with" in nothing.stderr
    bad_digest = run(tmp_path, "one-build", "--expect-digest", "latest")
    assert bad_digest.returncode == 2 and "--expect-digest 'latest'" in bad_digest.stderr
    other = run(tmp_path, "one-build", "--expect-version", "0.1.0", "--release", "staging")
    assert other.returncode == 2
    assert (
        "no pod of release 'staging'" in other.stderr
        and "(its pods are of: smartflow)" in other.stderr
    )


# --- against the fake API server: exec through the API, as on a cluster ---------------------


def helm_values(tag: str) -> dict[str, Any]:
    return {"image": {"repository": REPO, "tag": tag}}


def helm(cluster: FakeCluster, tag: str, *, upgrade: bool = False) -> None:
    """Install or upgrade the chart with the real Helm engine, as `sfctl deploy k8s` does."""
    with Releases(KubeTarget(cluster.kubeconfig, cluster.context, "smartflow")) as releases:
        apply = releases.upgrade if upgrade else releases.install
        apply(CHART, "smartflow", helm_values(tag))


def settle(cluster: FakeCluster, done: Callable[[list[PodView]], bool], ticks: int = 80) -> None:
    """Tick the controllers (the ticker paused) until `done` holds for the release's pods."""
    for _ in range(ticks):
        found = release_pods(cluster.list("v1", "Pod", "smartflow"), "smartflow", cluster.now)
        if done(found):
            return
        cluster.tick()
    raise AssertionError(f"the release did not settle: {[p.name for p in found]}")


def all_ready(found: list[PodView]) -> bool:
    return len(found) == 8 and all(p.ready for p in found)


@contextmanager
def installed(tmp_path: Path) -> Iterator[FakeCluster]:
    """The chart at 0.1.0 on a fake cluster, every pod ready, the background ticker paused."""
    with kube_cluster(tmp_path) as cluster, cluster.paused():
        cluster.images.add(f"{REPO}:0.1.0", version="0.1.0", commit=COMMIT, features=FEATURES)
        cluster.images.add("redis:7.2-alpine", gateway=False, version="7.2-alpine")
        cluster.images.add("timescale/timescaledb:2.17.2-pg16", gateway=False, version="2.17.2")
        cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "smartflow"}})
        helm(cluster, "0.1.0")
        settle(cluster, all_ready)
        yield cluster


def live(cluster: FakeCluster, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = sfctl(
        "verify", "k8s", *args,
        "--kubeconfig", str(cluster.kubeconfig), "--context", cluster.context,
        "--namespace", "smartflow",
        cwd=tmp_path, columns=80,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    if "json" not in args:
        assert all(len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
    return done


FEATURES = ("openai", "anthropic", "streaming", "mcp")


@pytest.mark.timeout(300)
def test_live_every_gateway_is_asked_through_exec(tmp_path: Path) -> None:
    with installed(tmp_path) as cluster:
        done = live(
            cluster, tmp_path,
            "--expect-version", "0.1.0", "--expect-commit", COMMIT[:9], "--expect-feature", "mcp",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "verify smartflow (namespace smartflow)" in done.stdout
        assert "✓ 8 pods run the expected build" in done.stdout
        execs = [r for r in cluster.requests if r[1].endswith("/exec")]
        assert len(execs) == 6  # each gateway pod once; Redis and TimescaleDB are not asked
        payload = json.loads(
            live(cluster, tmp_path, "--expect-version", "0.1.0", "-o", "json").stdout
        )
        proxy = next(c for c in payload["containers"] if c["service"] == "proxy")
        checks = {c["field"]: c for c in proxy["checks"]}
        assert checks["version"]["match"] is True and checks["version"]["observed"] == "0.1.0"
        assert checks["image"]["observed"] == next(
            p["containers"][0]["digest"] for p in payload["pods"] if p["component"] == "proxy"
        )
        missing = live(cluster, tmp_path, "--expect-version", "0.1.0", "--expect-feature", "cache")
        assert missing.returncode == 1 and "features: expected cache" in " ".join(
            missing.stdout.split()
        )


@pytest.mark.timeout(300)
def test_live_an_exec_refused_by_rbac_is_named_not_a_crash(tmp_path: Path) -> None:
    with installed(tmp_path) as cluster:
        cluster.fail(
            "*", r"/exec$", 403,
            'pods "smartflow-proxy" is forbidden: User "system:serviceaccount:ci:deployer" cannot '
            'create resource "pods/exec" in API group "" in the namespace "smartflow"',
            times=None,
        )  # fmt: skip
        done = live(cluster, tmp_path, "--expect-version", "0.1.0")
        assert done.returncode == 1
        flat = " ".join(done.stdout.split())
        assert (
            "cannot read its build: exec refused (403): the credentials lack RBAC `create` on pods/exec"
            in flat
        )
        assert flat.count("✗ no") == 6 and "nothing expected could be checked" not in flat


@pytest.mark.timeout(300)
def test_live_a_failed_upgrade_leaves_mixed_builds(tmp_path: Path) -> None:
    """0.2.0 crashes on start: with maxUnavailable 0 the 0.1.0 pods keep serving beside it."""
    with installed(tmp_path) as cluster:
        cluster.images.crash(
            f"{REPO}:0.2.0", logs=["boom: SMARTFLOW_CONFIG is not valid"], version="0.2.0",
            commit=NEW_COMMIT,
        )  # fmt: skip
        helm(cluster, "0.2.0", upgrade=True)

        def crash_looping(found: list[PodView]) -> bool:
            new = [p for p in found if p.containers[0].image.endswith(":0.2.0")]
            return len(new) == 4 and all(p.containers[0].reason == "CrashLoopBackOff" for p in new)

        settle(cluster, crash_looping)
        done = live(cluster, tmp_path, "--expect-version", "0.2.0", "--expect-commit", NEW_COMMIT)
        assert done.returncode == 1
        flat = " ".join(done.stdout.split())
        assert "✗ mixed builds: 2 images run the gateway pods" in flat
        assert f"0.1.0 ({COMMIT[:8]}) @" in flat  # the old pods answered
        assert flat.count("not running (CrashLoopBackOff, exit code 1)") == 1  # one note, 4 pods
        payload = json.loads(
            live(cluster, tmp_path, "--expect-version", "0.2.0", "-o", "json").stdout
        )
        builds = {b["build"]: b["pods"] for b in payload["builds"]}
        assert len(builds[f"0.1.0 ({COMMIT[:8]})"]) == 6 and len(builds["tag 0.2.0"]) == 4
        assert "tag 0.2.0 @" in flat


@pytest.mark.timeout(300)
def test_live_an_exec_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    """The API server holds the handshake (the kubelet does not answer): the client has no
    timeout of its own there, verify does."""
    with installed(tmp_path) as cluster:
        release = threading.Event()

        def hang(pod: dict[str, Any], container: str, command: list[str]) -> tuple[int, str, str]:
            release.wait(60)
            return cluster.images.exec(pod, container, command)

        cluster.exec_handler = hang
        found = release_pods(cluster.list("v1", "Pod", "smartflow"), "smartflow", cluster.now)
        proxy = next(p for p in found if p.component == "proxy")
        try:
            (late,) = version_answers(
                lambda: api_client(cluster.kubeconfig, cluster.context),
                "smartflow",
                [(proxy.name, "proxy")],
                timeout=1,
                grace=0.5,
            )
        finally:
            release.set()
        assert late == ExecFailure("`smartflow-gateway --version --json` did not answer in 1 s")
