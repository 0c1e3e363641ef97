"""`sfctl verify k8s`: does every pod of a release run the build it should? The comparison is
the Compose verify's (`sfctl.deploy.verify`); what Kubernetes adds:

- the witnesses: the pod's `imageID` (the digest the runtime resolved, not the tag the spec
  asked for), the gateway's own answer through an exec, and the image's OCI labels only when a
  local Docker engine holds the same image (Kubernetes does not expose labels);
- mixed builds named pod by pod: during a rollout, after a failed one, or when a tag was
  pushed again and some nodes pulled the new image, pods of one Deployment run different
  images; each build is listed with the pods that run it, and mixed builds fail verify;
- offline audits (`--from-file`): what a saved `kubectl get pods -o json` shows (references,
  digests, the version a tag names) is checked; what needs exec is said to be not checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sfctl.deploy.verify import (
    SHORT_COMMIT,
    SHORT_ID,
    Cell,
    ExecFailure,
    Expected,
    ExpectedImage,
    FieldCheck,
    Report,
    Row,
    check_container,
    expectation,
    label_checks,
    table,
)
from sfctl.deploy.verify_expect import NOTHING
from sfctl.deploy.verify_expect import from_options as build_from_options
from sfctl.errors import SfctlError, UsageError
from sfctl.kube.api import KubeTarget, Unreachable, api_client, list_all
from sfctl.kube.pod_dump import read_pods
from sfctl.kube.pod_exec import Answer, ask_gateways
from sfctl.kube.pods import (
    INSTANCE,
    ContainerView,
    PodView,
    checked_pods,
    container_facts,
    image_digest,
    pinned_digest,
    pod_view,
    reference_tag,
    release_pods,
)

#: what a pod's gateway container answered, by (pod, container)
Answers = Mapping[tuple[str, str], Answer]
#: the labels of the image a container runs (its imageID), None when nothing exposes them
Labels = Callable[[str], Mapping[str, str] | None]
LABEL_FIELDS = ("label version", "label revision")
_VERSION_TAG = re.compile(r"v?[0-9]")
NOT_EXPOSED = "not exposed: Kubernetes does not show image labels, no local Docker image matches"
NEEDS_EXEC = "not checked offline: needs exec in the pod"


@dataclass(frozen=True, slots=True)
class PodExpectation:
    """The build every gateway pod should run, and the image digest when one is known."""

    build: Expected
    digest: str | None = None  # sha256:...

    @property
    def anything(self) -> bool:
        exp = self.build
        return any((exp.version, exp.label_version, exp.commit, exp.features, self.digest))


def from_options(
    version: str | None, commit: str | None, features: Sequence[str], digest: str | None
) -> PodExpectation | None:
    """--expect-version/--expect-commit/--expect-digest; None when none of them is given."""
    wanted = _digest_option(digest) if digest else None
    build = build_from_options(version, commit, features)
    if build is None and wanted is None:
        return None
    chosen = build.build if build else replace(NOTHING, features=tuple(features))
    return PodExpectation(chosen, wanted)


def from_image(reference: str, features: Sequence[str], source: str) -> PodExpectation:
    """What an installed release's image says: its digest when pinned, the version its tag
    names when the tag is a version (`sfctl build` tags images with the build version)."""
    tag = reference_tag(reference)
    build = NOTHING
    if tag and _VERSION_TAG.match(tag):
        build = expectation(NOTHING, version=tag)
    build = replace(build, features=tuple(features), source=f"{source} ({reference})")
    return PodExpectation(build, pinned_digest(reference))


def _digest_option(text: str) -> str:
    digest = image_digest(text.strip())
    if digest is None:
        raise UsageError(
            f"--expect-digest {text!r}: give sha256:<64 hex digits> or repo@sha256:<...>"
        )
    return digest


def choose_expectation(
    options: PodExpectation | None,
    installed: Callable[[], PodExpectation | None],
    checkout: Callable[[], Expected | None],
    features: Sequence[str],
) -> PodExpectation:
    """The options, else the installed release's image, else this checkout's build."""
    chosen = options or installed()
    if chosen is None:
        build = checkout()
        if build is not None:
            chosen = PodExpectation(replace(build, features=tuple(features)))
    if chosen is None:
        raise UsageError(
            "nothing to compare with: no installed release image and no source checkout here; "
            "pass --expect-version, --expect-commit or --expect-digest"
        )
    return chosen


@dataclass(frozen=True, slots=True)
class Build:
    """One build some of the gateway pods run: its digest, and what it says it is."""

    digest: str | None
    name: str | None  # `version (commit)` when a pod answered, else the tag
    pods: tuple[str, ...]

    def describe(self, short: Callable[[str], str] = str) -> str:
        what = " ".join(p for p in (self.name, self.digest and f"@{_short(self.digest)}") if p)
        return f"{what or 'unknown'}: {', '.join(short(p) for p in self.pods)}"

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "build": self.name, "pods": list(self.pods)}


@dataclass(frozen=True, slots=True)
class K8sReport:
    report: Report
    release: str
    namespace: str | None
    pods: tuple[PodView, ...]  # checked
    skipped: tuple[PodView, ...]  # terminating or finished, while others run
    builds: tuple[Build, ...]
    offline: bool
    not_checked: tuple[str, ...] = ()  # what could not be checked, in plain words
    problems: tuple[str, ...] = ()  # release-wide: mixed builds, nothing checked

    @property
    def mixed(self) -> bool:
        return len(self.builds) > 1

    @property
    def ok(self) -> bool:
        return self.report.ok and not self.problems

    @property
    def image_only(self) -> tuple[str, ...]:
        """Containers that are not the gateway: their image shown, their version not checked."""
        return tuple(p.container_name(c) for p in self.pods for c in p.containers if not c.gateway)

    def to_json(self) -> dict[str, Any]:
        payload = self.report.to_json()
        payload.update(
            ok=self.ok,
            release=self.release,
            namespace=self.namespace,
            offline=self.offline,
            mixed_builds=self.mixed,
            builds=[b.to_json() for b in self.builds],
            problems=list(self.problems),
            not_checked=list(self.not_checked),
            image_only=list(self.image_only),
            skipped=[p.name for p in self.skipped],
            pods=[p.to_json() for p in self.pods],
        )
        return payload


def exit_code(report: K8sReport) -> int:
    return 0 if report.ok else 1


def verify_pods(
    expectation: PodExpectation,
    pods: Sequence[PodView],
    answers: Answers | None,
    labels: Labels,
    *,
    release: str,
    namespace: str | None = None,
) -> K8sReport:
    """One row per container of the release's current pods; `answers` None: offline (a saved
    dump: nothing was asked)."""
    checked, skipped = checked_pods(pods)
    offline = answers is None
    rows: list[Row] = []
    found_labels = False
    for pod in checked:
        for container in pod.containers:
            seen = labels(container.image_id) if container.gateway and container.digest else None
            found_labels |= seen is not None
            answer = None if offline or not container.gateway else _answer(answers, pod, container)
            rows.append(_row(expectation, pod, container, answer, seen, offline=offline))
    report = Report(expected=expectation.build, rows=tuple(rows))
    builds = _builds(report, checked)
    gateways = [r for r, c in _containers(report, checked) if c.gateway]
    not_checked: list[str] = []
    if offline and gateways:
        not_checked.append(
            "the version, commit and features the gateway reports (they need exec in the "
            "pods: verify against the cluster, without --from-file)"
        )
    if gateways and not found_labels:
        not_checked.append(
            "the image labels (Kubernetes does not expose them, and no local Docker engine "
            "holds these images)"
        )
    problems: list[str] = []
    if len(builds) > 1:
        problems.append(f"mixed builds: {len(builds)} different images run the gateway")
    unchecked = not any(_checked(r) or r.problem for r in gateways)
    if expectation.anything and gateways and unchecked:  # (a row's problem already fails it)
        problems.append(
            "nothing expected could be checked"
            + (" offline: pass --expect-version or --expect-digest" if offline else "")
        )
    return K8sReport(
        report=report,
        release=release,
        namespace=namespace,
        pods=tuple(checked),
        skipped=tuple(skipped),
        builds=builds,
        offline=offline,
        not_checked=tuple(not_checked),
        problems=tuple(problems),
    )


def _answer(answers: Answers | None, pod: PodView, container: ContainerView) -> Answer:
    found = (answers or {}).get((pod.name, container.name))
    return found or ExecFailure(f"not asked ({container.status})")


def _row(
    expectation: PodExpectation,
    pod: PodView,
    container: ContainerView,
    answer: Answer | None,
    labels: Mapping[str, str] | None,
    *,
    offline: bool,
) -> Row:
    """The shared check, then what Kubernetes changes: labels that nothing exposes are not
    checked (not a mismatch), an image not pulled yet has no digest to compare, and offline a
    gateway's tag stands in for the version it cannot be asked."""
    expected = expectation.build
    facts = container_facts(pod, container, answer, labels)
    wanted = (expectation.digest if container.gateway else None) or pinned_digest(container.image)
    row = check_container(expected, facts, ExpectedImage(digest=wanted))
    checks = list(row.checks)
    if not container.digest:
        checks = [
            FieldCheck("image", wanted, None, None, "not pulled yet: no imageID")
            if c.field == "image"
            else c
            for c in checks
        ]
    if container.gateway and offline:
        checks[:0] = [*_offline_checks(expected), _tag_check(expected, container.image)]
        checks[-1:-1] = label_checks(expected, labels) if labels is not None else []
    if container.gateway and labels is None:
        checks = [c for c in checks if c.field not in LABEL_FIELDS]
        checks[-1:-1] = [
            FieldCheck(name, want, None, None, NOT_EXPOSED)
            for name, want in zip(
                LABEL_FIELDS, (expected.label_version, expected.commit), strict=True
            )
        ]
    return replace(row, checks=tuple(checks))


def _offline_checks(expected: Expected) -> list[FieldCheck]:
    wanted = (
        ("version", expected.version),
        ("commit", expected.commit),
        ("features", ",".join(expected.features) or None),
    )
    return [FieldCheck(name, want, None, None, NEEDS_EXEC) for name, want in wanted if want]


def _tag_check(expected: Expected, reference: str) -> FieldCheck:
    """The version the image's tag names (`sfctl build` tags with the build version)."""
    tag = reference_tag(reference)
    want = expected.label_version
    if tag is None or not _VERSION_TAG.match(tag):
        note = "no tag (pinned by digest)" if tag is None else f"the tag {tag!r} names no version"
        return FieldCheck("tag version", want, None, None, note if want else None)
    if want is None:
        return FieldCheck("tag version", None, tag, None)
    return FieldCheck("tag version", want, tag, tag.removeprefix("v") == want.removeprefix("v"))


def _checked(row: Row) -> bool:
    return any(c.match is not None for c in row.checks)


def _containers(report: Report, pods: Sequence[PodView]) -> list[tuple[Row, ContainerView]]:
    pairs = [c for p in pods for c in p.containers]
    return list(zip(report.rows, pairs, strict=True))


def _builds(report: Report, pods: Sequence[PodView]) -> tuple[Build, ...]:
    """The gateway containers grouped by the image they run (its digest), each group named
    by what its pods answered, else by its tag (`tag 0.2.0`: a crash-looping pod cannot be
    asked). Not-pulled containers run nothing yet."""
    owner = {p.container_name(c): p.name for p in pods for c in p.containers}
    groups: dict[str, list[tuple[Row, ContainerView]]] = {}
    for row, container in _containers(report, pods):
        if container.gateway and container.digest:
            groups.setdefault(container.digest, []).append((row, container))
    builds = []
    for digest, members in groups.items():
        names = [n for n in (_build_name(row) for row, _ in members) if n]
        tags = [t for t in (reference_tag(c.image) for _, c in members) if t]
        builds.append(
            Build(
                digest=digest,
                name=names[0] if names else (f"tag {tags[0]}" if tags else None),
                pods=tuple(dict.fromkeys(owner[row.container] for row, _ in members)),
            )
        )
    return tuple(builds)


def _build_name(row: Row) -> str | None:
    def seen(name: str) -> str | None:
        check = row.check(name)
        return check.observed if check else None

    version = seen("version") or seen("label version") or seen("tag version")
    commit = seen("commit") or seen("label revision")
    if version and commit:
        return f"{version} ({_short(commit, SHORT_COMMIT)})"
    return version


def _short(text: str, length: int = SHORT_ID) -> str:
    return text.removeprefix("sha256:")[:length]


def report_table(
    report: K8sReport, short: Callable[[str], str]
) -> tuple[list[str], list[list[Cell]], list[str]]:
    """`verify.table` for pods: names shortened by `short`, mixed builds spelled out (which
    pods run which build) instead of the one-line summary."""
    columns, cells, notes = table(report.report)
    columns[0] = "pod"
    for row in cells:
        row[0] = replace(row[0], text=short(row[0].text))
    lines = [_short_note(n, short) for n in notes if not n.startswith("mixed builds: ")]
    lines += [p for p in report.problems if not p.startswith("mixed builds")]
    if report.mixed:
        lines.append(f"mixed builds: {len(report.builds)} images run the gateway pods")
        lines += [f"  {build.describe(short)}" for build in report.builds]
    return columns, cells, lines


def _short_note(note: str, short: Callable[[str], str]) -> str:
    """`verify.table`'s notes start with the containers they are about: `a, b: text`."""
    names, sep, text = note.partition(": ")
    if not sep:
        return note
    return f"{', '.join(short(n) for n in names.split(', '))}: {text}"


# --- reading the cluster or the files ---------------------------------------------------


def verify_cluster(
    target: KubeTarget,
    release: str,
    expectation: PodExpectation,
    *,
    labels: Labels,
    now: datetime,
) -> K8sReport:
    """The release's pods as the API lists them, each running gateway asked its build."""
    api = api_client(target.kubeconfig, target.context)
    try:
        raw = release_pod_json(api, target.namespace, release)
    except Unreachable as exc:
        raise cluster_errors(target, exc) from None
    pods = release_pods(raw, release, now)
    if not pods:
        raise SfctlError(
            f"no pod of release {release!r} in namespace {target.namespace}: deploy it with "
            "`sfctl deploy k8s`, or pass --namespace/--release (see `sfctl status k8s`)"
        )
    checked, _ = checked_pods(pods)
    answers = ask_gateways(target, checked)
    return verify_pods(
        expectation, pods, answers, labels, release=release, namespace=target.namespace
    )


def verify_files(
    paths: Sequence[Path],
    release: str,
    namespace: str | None,
    expectation: PodExpectation,
    *,
    labels: Labels,
    now: datetime,
) -> K8sReport:
    """The release's pods in saved dumps (`namespace` None: any), checked without exec."""
    raw = read_pods(paths)
    pods = [p for p in release_pods(raw, release, now) if namespace in (None, p.namespace)]
    if not pods:
        found = sorted({p.release for p in (pod_view(r, now) for r in raw) if p.release})
        where = f" in namespace {namespace}" if namespace else ""
        others = f" (its pods are of: {', '.join(found)})" if found else ""
        files = ", ".join(str(path) for path in paths)
        raise UsageError(f"no pod of release {release!r}{where} in {files}{others}: pass --release")
    return verify_pods(expectation, pods, None, labels, release=release, namespace=namespace)


def installed_expectation(
    installed_image: Callable[[KubeTarget, str], str | None], target: KubeTarget, release: str
) -> PodExpectation | None:
    """The expectation the installed Helm release's image gives, None without a release."""
    reference = installed_image(target, release)
    if not reference:
        return None
    return from_image(reference, (), f"the installed release {release}")


def release_pod_json(client: Any, namespace: str, release: str) -> list[dict[str, Any]]:
    """The pods the release's instance label selects, as the API's JSON."""
    from kubernetes.client import CoreV1Api

    return list_all(
        CoreV1Api(client).list_namespaced_pod,
        f"pods in namespace {namespace}",
        namespace=namespace,
        label_selector=f"{INSTANCE}={release}",
    )


def cluster_errors(target: KubeTarget, exc: Unreachable) -> SfctlError:
    where = f"context {target.context}" if target.context else "the current context"
    return SfctlError(f"cannot reach the Kubernetes API ({where}): {exc.detail}", exit_code=2)


def docker_labels() -> Labels:
    """Labels from a local Docker engine holding the image a pod runs (same digest): on a
    node, or where the image was built and pushed. Connects once, at the first question;
    no engine, or no such image, is None: not exposed, never an error."""
    state: dict[str, Any] = {}
    cache: dict[str, Mapping[str, str] | None] = {}

    def engine() -> Any:
        if "engine" not in state:
            try:
                from sfctl.deploy.engine import connect

                state["engine"] = connect()
            except Exception:  # no CLI, no daemon, no python-on-whales: nothing exposed
                state["engine"] = None
        return state["engine"]

    def lookup(image_id: str) -> Mapping[str, str] | None:
        digest = image_digest(image_id)
        if digest is None:
            return None
        if image_id not in cache:
            cache[image_id] = _labels_of(engine(), image_id, digest)
        return cache[image_id]

    return lookup


def _labels_of(engine: Any, image_id: str, digest: str) -> Mapping[str, str] | None:
    if engine is None:
        return None
    named = image_id.rpartition("://")[2]
    for reference in dict.fromkeys((named, digest)):
        try:
            facts = engine.facts(reference)
        except Exception:  # noqa: S112 (not here: "No such image"; or the engine went away)
            continue
        if facts.id == digest or any(d.endswith(f"@{digest}") for d in facts.repo_digests):
            return dict(facts.labels)
    return None


def no_labels(_image_id: str) -> Mapping[str, str] | None:
    return None
