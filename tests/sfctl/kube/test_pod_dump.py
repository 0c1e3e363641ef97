"""Saved pods for `sfctl verify k8s --from-file`: every shape kubectl and the API print them in,
and one clear line (exit 2 through the CLI) for anything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sfctl.errors import UsageError
from sfctl.kube.pod_dump import pods_in, read_pods

from support.sfctl_cli import sfctl

PODS = Path(__file__).parent / "fixtures" / "pods"
ONE_BUILD = PODS / "one-build.json"


def kubectl_list() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ONE_BUILD.read_text())
    return data


def names(pods: list[dict[str, Any]]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods)


EXPECTED_NAMES = names(kubectl_list()["items"])


def test_kubectls_list_is_read() -> None:
    assert kubectl_list()["kind"] == "List"
    pods = pods_in(ONE_BUILD)
    assert len(pods) == 8 and names(pods) == EXPECTED_NAMES
    assert all(p["kind"] == "Pod" for p in pods)


def test_the_apis_pod_list_is_read(tmp_path: Path) -> None:
    """The API's PodList: its items carry no kind."""
    listed = kubectl_list()
    api = {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "48213"},
        "items": [
            {k: v for k, v in p.items() if k not in ("kind", "apiVersion")} for p in listed["items"]
        ],
    }
    path = tmp_path / "podlist.json"
    path.write_text(json.dumps(api))
    pods = pods_in(path)
    assert names(pods) == EXPECTED_NAMES
    assert all(p["kind"] == "Pod" for p in pods)


def test_a_single_pod_and_concatenated_documents_are_read(tmp_path: Path) -> None:
    """`kubectl get pod X -o json` once, and in a loop appending to one file."""
    items = kubectl_list()["items"]
    single = tmp_path / "one.json"
    single.write_text(json.dumps(items[0], indent=4))
    assert names(pods_in(single)) == [items[0]["metadata"]["name"]]
    several = tmp_path / "several.json"
    several.write_text("\n".join(json.dumps(p, indent=4) for p in items[:3]) + "\n")
    assert names(pods_in(several)) == names(items[:3])
    mixed = tmp_path / "list-and-pod.json"
    mixed.write_text(json.dumps({**kubectl_list(), "items": items[:2]}) + json.dumps(items[5]))
    assert names(pods_in(mixed)) == names([*items[:2], items[5]])


def test_yaml_documents_and_a_yaml_list_are_read(tmp_path: Path) -> None:
    items = kubectl_list()["items"]
    docs = tmp_path / "pods.yaml"
    docs.write_text(yaml.safe_dump_all(items[:4]))
    assert names(pods_in(docs)) == names(items[:4])
    listed = tmp_path / "list.yaml"  # `kubectl get pods -o yaml`
    listed.write_text(yaml.safe_dump(kubectl_list()))
    assert names(pods_in(listed)) == EXPECTED_NAMES


def test_pods_saved_twice_are_counted_once(tmp_path: Path) -> None:
    copy = tmp_path / "again.json"
    copy.write_text(ONE_BUILD.read_text())
    assert names(read_pods([ONE_BUILD, copy])) == EXPECTED_NAMES
    mixed = PODS / "mixed-builds.json"
    assert len(read_pods([ONE_BUILD, mixed])) > 8  # other pods (other uids) add up


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ('{\n  "kind": "List",\n  "items": [\n', "neither JSON nor YAML (line"),
        ("\tnot: [yaml", "neither JSON nor YAML"),
        ("hello world\n", "no pods in it (it holds text, not Kubernetes objects)"),
        ('{"kind": "List", "apiVersion": "v1", "items": []}', "no pods in it (an empty list)"),
        (
            '{"kind": "List", "items": [{"kind": "Deployment", "metadata": {"name": "x"}}]}',
            "no pods in it (it holds Deployment)",
        ),
        (
            '{"kind": "DeploymentList", "items": [{"metadata": {"name": "x"}}]}',
            "it holds Deployment",
        ),
    ],
)
def test_what_is_not_pods_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError) as raised:
        pods_in(path)
    text = str(raised.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(path))


def test_unreadable_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        pods_in(tmp_path / "missing.json")
    binary = tmp_path / "pods.json.gz"
    binary.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe\x00\x00")
    with pytest.raises(UsageError, match=r"cannot read it \(not text"):
        pods_in(binary)


def test_the_cli_says_what_is_wrong_with_a_file_in_one_line(tmp_path: Path) -> None:
    deployments = tmp_path / "deployments.json"
    deployments.write_text(
        json.dumps({"kind": "List", "items": [{"kind": "Deployment", "metadata": {"name": "a"}}]})
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "List", "items": [')
    for path, said in (
        (deployments, "no pods in it (it holds Deployment): save them with `kubectl get pods"),
        (broken, "neither JSON nor YAML"),
        (tmp_path / "nowhere.json", "no such file"),
    ):
        done = sfctl(
            "verify",
            "k8s",
            "--from-file",
            str(path),
            "--expect-version",
            "0.1.0",
            cwd=tmp_path,
            columns=80,
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and said in lines[0] and "Traceback" not in done.stderr
