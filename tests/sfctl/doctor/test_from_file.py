"""--from-file: kubectl dumps (JSON and YAML, Lists and single objects), multi-document
manifests, raw API lists, and /api/health/comprehensive JSON; unreadable input names the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sfctl.doctor.collect_files import collect_files, is_gateway_health
from sfctl.errors import SfctlError

from support.doctor_objects import FIXTURES, fixture_files


def test_fixture_dumps_load_every_kind() -> None:
    inv = collect_files(fixture_files("healthy"))
    counts = {kind: len(objs) for kind, objs in inv.objects.items()}
    assert counts["Deployment"] == 9 and counts["StatefulSet"] == 2
    assert counts["Node"] == 4 and counts["Namespace"] == 7
    assert counts["ValidatingWebhookConfiguration"] == 2  # from the YAML dump
    assert counts["MutatingWebhookConfiguration"] == 1
    assert len(inv.gateway_health) == 1
    assert inv.gateway_health[0][0].endswith("health.json")


def test_single_object_and_multi_document_yaml(tmp_path: Path) -> None:
    items = json.loads((FIXTURES / "healthy" / "smartflow.json").read_text())["items"]
    single = tmp_path / "deploy.json"
    single.write_text(json.dumps(items[0]))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "---\n# rendered by helm template\n"
        + yaml.safe_dump(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "smartflow"}}
        )
        + "---\n---\n"
        + yaml.safe_dump(items[1])
    )
    inv = collect_files([single, manifest])
    assert [d["metadata"]["name"] for d in inv.of_kind("Deployment")] == [
        "smartflow-proxy",
        "smartflow-api-server",
    ]
    assert [n["metadata"]["name"] for n in inv.of_kind("Namespace")] == ["smartflow"]


def test_raw_api_list_items_get_their_kind(tmp_path: Path) -> None:
    """`kubectl get --raw /api/v1/pods` items carry no kind: the list's kind says it."""
    pods = json.loads((FIXTURES / "healthy" / "smartflow.json").read_text())["items"]
    raw = [
        {k: v for k, v in p.items() if k not in ("kind", "apiVersion")}
        for p in pods
        if p["kind"] == "Pod"
    ]
    path = tmp_path / "pods.json"
    path.write_text(
        json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": raw})
    )
    inv = collect_files([path])
    assert len(list(inv.of_kind("Pod"))) == len(raw) > 0


def test_json_array_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "objects.json"
    path.write_text(
        json.dumps(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("a", "b")]
        )
    )
    assert len(list(collect_files([path]).of_kind("Namespace"))) == 2


def test_yaml_flow_mapping_is_yaml_not_json(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("{kind: Namespace, apiVersion: v1, metadata: {name: flow}}\n")
    assert [n["metadata"]["name"] for n in collect_files([path]).of_kind("Namespace")] == ["flow"]


def test_gateway_health_shapes() -> None:
    ok = json.loads((FIXTURES / "healthy" / "health.json").read_text())
    assert is_gateway_health(ok)
    assert not is_gateway_health({"kind": "Pod", "status": "ok", "components": {}})
    assert not is_gateway_health({"status": "ok", "components": {"redis": "up"}})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("kind: Pod\n  metadata: [\n", "not valid JSON or YAML at line"),
        ('{"items": [}', "not valid JSON or YAML"),
        ("just a line of text\n", "document 1 is a str, not an object"),
        ("metadata:\n  name: x\n", "document 1 is neither a Kubernetes object (no `kind`)"),
        ("---\nkind: Namespace\nmetadata: {name: a}\n---\n- 1\n- 2\n", "document 2 is a list"),
    ],
)
def test_invalid_files_name_the_file_and_exit_2(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "dump.yaml"
    path.write_text(content)
    with pytest.raises(SfctlError) as raised:
        collect_files([path])
    assert str(raised.value).startswith(f"--from-file {path}: ")
    assert problem in str(raised.value)
    assert raised.value.exit_code == 2


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(
        SfctlError, match=r"nope\.json: cannot read it \(No such file or directory\)"
    ):
        collect_files([tmp_path / "nope.json"])
    with pytest.raises(SfctlError, match="is a directory"):
        collect_files([tmp_path])


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(SfctlError, match="cannot read it") as raised:
        collect_files([path])
    assert raised.value.exit_code == 2


def test_overlapping_dumps_do_not_double_objects(tmp_path: Path) -> None:
    smartflow = FIXTURES / "healthy" / "smartflow.json"
    deployments = json.loads(smartflow.read_text())["items"][:4]
    subset = tmp_path / "deployments.json"
    subset.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": deployments}))
    inv = collect_files([smartflow, subset])
    names = [d["metadata"]["name"] for d in inv.of_kind("Deployment")]
    assert len(names) == len(set(names)) == 4
