"""Verify: does every container run the build we expect? ("never assume the running container
matches the source code", seed 000.) Pure: the facts are read elsewhere (`verify_facts` makes
them from Docker's inspect JSON and the exec's answer) and passed in, so Compose and Kubernetes
share the comparison.

Per container, three witnesses are compared with the expected build:
- what the gateway says it is (`smartflow-gateway --version --json`, run inside): the package
  version, the commit (`<sha>-dirty` for a dirty tree) and the features it runs with;
- the image's OCI labels, set by `sfctl build`: the build version (a dirty tree's carries
  `_uncommitted_<hash>`, so two dirty builds of one commit differ) and the revision;
- the image's identity, when the expected one is known (the deploy record, `sfctl build`'s
  output): see `RunningImage` for which digest is compared with which.
A container whose build cannot be read (not running, an old build without `--version --json`)
is a mismatch with its reason, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sfctl.deploy.buildinfo import (
    DIRTY,
    REVISION_LABEL,
    UNCOMMITTED,
    VERSION_LABEL,
    SourceState,
    build_info,
    tag_safe,
)

ImageStore = Literal["classic", "containerd"]
#: characters shown in the table: git's short commit, and `docker images`' IMAGE ID
SHORT_COMMIT, SHORT_ID = 8, 12
_MIN_PREFIX = 7  # a shorter commit prefix is too ambiguous to accept
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # build time: not part of what is compared


@dataclass(frozen=True, slots=True)
class Expected:
    """The build every container should run; a None field is not checked."""

    version: str | None  # the package version, as `--version --json` reports it
    label_version: str | None  # the image's version label: a dirty build's says so
    commit: str | None  # `<sha>` or `<sha>-dirty`; a prefix of 7+ characters matches
    features: tuple[str, ...] = ()  # each must be on in the running gateway
    source: str = "this checkout"


def expected_build(version: str, state: SourceState) -> Expected:
    """What a checkout at `state` builds, by `sfctl build`'s own rules (buildinfo)."""
    info = build_info(version, state, _EPOCH)
    return Expected(version=version, label_version=info.build_version, commit=info.commit)


def expectation(
    default: Expected,
    *,
    version: str | None = None,
    commit: str | None = None,
    features: Sequence[str] = (),
) -> Expected:
    """The options over the default: --expect-version or --expect-commit replace the checkout's
    identity (what they leave out is not checked: the checkout may be elsewhere), features add.
    A version with `_uncommitted_<hash>` expects that dirty build; a plain one a clean build."""
    if version is None and commit is None:
        return replace(default, features=tuple(features))
    return Expected(
        version=version.split(UNCOMMITTED, 1)[0] if version else None,
        label_version=tag_safe(version) if version else None,  # as the label carries it
        commit=commit,
        features=tuple(features),
        source="the options",
    )


@dataclass(frozen=True, slots=True)
class ExpectedImage:
    """The image a service should run: `image_id` as this engine names it (what `sfctl build`
    printed, or the deploy record), `digest` as a registry does (`sha256:...` of the manifest,
    or `repo@sha256:...`). Either may be None."""

    image_id: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class RunningImage:
    """The image a container runs, as the engine reports it.

    The classic store (graph drivers: overlay2) names an image by its config digest: the
    container's `Image` and the image's `Id` are that, and `RepoDigests` holds the registry's
    manifest digest only after a push or a pull (a local build has none). The containerd store
    names it by the digest of what was pulled or built, a manifest or a multi-platform index:
    `Id`, the container's `Image`, the image's `Descriptor` and its `RepoDigests` are that, and
    the container's `ImageManifestDescriptor` is the platform's manifest. So an expected id is
    compared with the container's `Image` (same engine, same naming), and an expected registry
    digest with the manifest digests the store knows (never with a classic `Id`: a config digest
    is another hash of the same image and never equals a manifest digest).
    """

    reference: str  # the name it was created from (the tag may have moved since)
    id: str  # the container's `Image`
    store: ImageStore
    repo_digests: tuple[str, ...] = ()  # `repo@sha256:...`
    descriptor: str | None = None  # containerd: the image's Descriptor.digest
    platform_manifest: str | None = None  # containerd: the container's ImageManifestDescriptor
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def manifest_digests(self) -> frozenset[str]:
        """Every registry (manifest or index) digest that names this image here."""
        found = {d.rpartition("@")[2] for d in self.repo_digests}
        if self.store == "containerd":
            found |= {d for d in (self.id, self.descriptor, self.platform_manifest) if d}
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class VersionAnswer:
    """`smartflow-gateway --version --json` (gateway/services/common.py version_info)."""

    version: str
    git_commit: str
    build_time: str | None = None
    service: str | None = None
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecFailure:
    reason: str


@dataclass(frozen=True, slots=True)
class ContainerFacts:
    name: str
    service: str
    state: str  # running, exited, restarting, ...
    image: RunningImage
    answer: VersionAnswer | ExecFailure | None  # None: not a gateway container (not asked)
    exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class FieldCheck:
    field: str  # version, label version, commit, label revision, features, image, tag version
    expected: str | None
    observed: str | None
    match: bool | None  # None: not checked
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "expected": self.expected,
            "observed": self.observed,
            "match": self.match,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Row:
    container: str
    service: str
    checks: tuple[FieldCheck, ...]
    problem: str | None = None  # why its build could not be read

    @property
    def ok(self) -> bool:
        return self.problem is None and all(c.match is not False for c in self.checks)

    @property
    def mismatches(self) -> tuple[FieldCheck, ...]:
        return tuple(c for c in self.checks if c.match is False)

    def check(self, name: str) -> FieldCheck | None:
        return next((c for c in self.checks if c.field == name), None)


@dataclass(frozen=True, slots=True)
class Report:
    expected: Expected
    rows: tuple[Row, ...]

    @property
    def ok(self) -> bool:
        """Every container matches, and there is at least one: verifying nothing fails."""
        return bool(self.rows) and all(row.ok for row in self.rows)

    @property
    def builds(self) -> tuple[str, ...]:
        """The distinct builds the gateway containers answered with: more than one is a mixed
        deployment (an upgrade half done, a container not recreated)."""
        seen: dict[str, None] = {}
        for row in self.rows:
            version = _observed(row, "label version", "version")
            commit = _observed(row, "commit", "label revision")
            if version and commit:
                seen[f"{version} ({_short(commit, SHORT_COMMIT)})"] = None
        return tuple(seen)

    def to_json(self) -> dict[str, Any]:
        exp = self.expected
        return {
            "ok": self.ok,
            "expected": {
                "version": exp.version,
                "label_version": exp.label_version,
                "commit": exp.commit,
                "features": list(exp.features),
                "source": exp.source,
            },
            "mixed_builds": len(self.builds) > 1,
            "builds": list(self.builds),
            "containers": [
                {
                    "container": row.container,
                    "service": row.service,
                    "ok": row.ok,
                    "problem": row.problem,
                    "checks": [c.to_json() for c in row.checks],
                }
                for row in self.rows
            ],
        }


def exit_code(report: Report) -> int:
    return 0 if report.ok else 1


def verify(
    expected: Expected,
    containers: Sequence[ContainerFacts],
    images: Mapping[str, ExpectedImage] | None = None,
) -> Report:
    """One row per container, in the order given; `images` maps a service to its image."""
    rows = [check_container(expected, c, (images or {}).get(c.service)) for c in containers]
    return Report(expected=expected, rows=tuple(rows))


def check_container(expected: Expected, facts: ContainerFacts, image: ExpectedImage | None) -> Row:
    checks: list[FieldCheck] = []
    problem = None
    if facts.state != "running":
        code = "" if facts.exit_code is None else f", exit code {facts.exit_code}"
        problem = f"not running ({facts.state}{code})"
    if isinstance(facts.answer, ExecFailure):
        problem = problem or f"cannot read its build: {facts.answer.reason}"
    if isinstance(facts.answer, VersionAnswer):
        checks += _answer_checks(expected, facts.answer)
    if facts.answer is not None:  # a gateway image: sfctl build labelled it
        checks += label_checks(expected, facts.image.labels)
    checks.append(check_image(image or ExpectedImage(), facts.image))
    return Row(facts.name, facts.service, tuple(checks), problem)


def _answer_checks(expected: Expected, answer: VersionAnswer) -> list[FieldCheck]:
    checks = [
        _equal("version", expected.version, answer.version),
        _commit("commit", expected.commit, answer.git_commit),
    ]
    if expected.features:
        missing = [f for f in expected.features if f not in answer.features]
        checks.append(
            FieldCheck(
                "features",
                ",".join(expected.features),
                ",".join(answer.features),
                not missing,
                f"missing: {', '.join(missing)}" if missing else None,
            )
        )
    return checks


def label_checks(expected: Expected, labels: Mapping[str, str]) -> list[FieldCheck]:
    """The image's `sfctl build` labels against the expected build."""
    return [
        _equal("label version", expected.label_version, labels.get(VERSION_LABEL)),
        _commit("label revision", expected.commit, labels.get(REVISION_LABEL)),
    ]


def _equal(name: str, expected: str | None, observed: str | None) -> FieldCheck:
    match = None if expected is None else expected == observed
    return FieldCheck(name, expected, observed, match, _absent(expected, observed))


def _commit(name: str, expected: str | None, observed: str | None) -> FieldCheck:
    match = (
        None if expected is None else observed is not None and commit_matches(expected, observed)
    )
    return FieldCheck(name, expected, observed, match, _absent(expected, observed))


def _absent(expected: str | None, observed: str | None) -> str | None:
    return "not reported (built without sfctl build?)" if expected and observed is None else None


def commit_matches(expected: str, observed: str) -> bool:
    """Equal, or `expected` is a prefix of 7+ characters; `-dirty` must agree on both sides."""
    want, want_dirty = _split_dirty(expected.strip().lower())
    have, have_dirty = _split_dirty(observed.strip().lower())
    if want_dirty != have_dirty:
        return False
    return want == have or (len(want) >= _MIN_PREFIX and have.startswith(want))


def _split_dirty(commit: str) -> tuple[str, bool]:
    dirty = commit.endswith(DIRTY)
    return (commit.removesuffix(DIRTY), dirty)


def check_image(expected: ExpectedImage, running: RunningImage) -> FieldCheck:
    """The container's image against the expected one, by the rules in `RunningImage`."""
    if expected.image_id is None and expected.digest is None:
        return FieldCheck("image", None, running.id, None)
    digest = expected.digest.rpartition("@")[2] if expected.digest else None
    match = expected.image_id == running.id or (
        digest is not None and digest in running.manifest_digests
    )
    observed = running.id
    note = None
    if expected.image_id is None:  # only a registry digest to go by
        observed = ", ".join(sorted(running.manifest_digests)) or f"no digest (id {running.id})"
        if not match and running.store == "classic" and not running.repo_digests:
            note = "the classic image store knows a registry digest only after a push or pull"
    wanted = " or ".join(w for w in (expected.image_id, expected.digest) if w)
    return FieldCheck("image", wanted, observed, match, note)


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    bad: bool = False


def table(report: Report) -> tuple[list[str], list[list[Cell]], list[str]]:
    """The terminal table (columns, one row of cells per container; a bad cell is highlighted)
    and the lines under it: each mismatch in full, once for all the containers it affects, so
    the table stays narrow enough for 80 columns."""
    features = bool(report.expected.features)
    columns = ["container", "version", "commit", "image", *(["features"] if features else []), "ok"]
    rows: list[list[Cell]] = []
    notes: dict[str, list[str]] = {}
    for row in report.rows:
        cells = [
            Cell(row.container),
            _cell(row, "version", "label version", "tag version"),
            _cell(row, "commit", "label revision", short=SHORT_COMMIT),
            _cell(row, "image", short=SHORT_ID),
        ]
        if features:
            check = row.check("features")
            cells.append(Cell("-") if check is None else Cell(check.note or "ok", not check.match))
        cells.append(Cell("ok") if row.ok else Cell("no", bad=True))
        rows.append(cells)
        explained = [row.problem] if row.problem else []
        for text in [*explained, *(_explain(check) for check in row.mismatches)]:
            notes.setdefault(text, []).append(row.container)
    lines = [f"{', '.join(names)}: {text}" for text, names in notes.items()]
    if len(report.builds) > 1:
        lines.append(f"mixed builds: {'; '.join(report.builds)}")
    return columns, rows, lines


def _cell(row: Row, *names: str, short: int | None = None) -> Cell:
    """The first observed value of `names`, bad when any of their checks failed."""
    shown = _observed(row, *names) or "-"
    bad = any(c.match is False for c in (row.check(name) for name in names) if c is not None)
    return Cell(_short(shown, short) if short else shown, bad)


def _observed(row: Row, *names: str) -> str | None:
    checks = (row.check(name) for name in names)
    return next((c.observed for c in checks if c is not None and c.observed), None)


def _short(text: str, length: int) -> str:
    value = text.removeprefix("sha256:")
    dirty = DIRTY if value.endswith(DIRTY) else ""
    return value.removesuffix(DIRTY)[:length] + dirty


def _explain(check: FieldCheck) -> str:
    text = f"{check.field}: expected {check.expected}, found {check.observed or 'nothing'}"
    return f"{text} ({check.note})" if check.note else text
