"""`sfctl deploy|upgrade|rollback|history|scale|teardown k8s` end to end: the real sfctl entry
point, the real Helm engine (it installs the stand-in cert-manager and ingress-nginx charts from
a loopback chart repository, and Smartflow's own chart), the official kubernetes client, and the
fake API server whose controllers move rollouts forward as the real ones do (no API server can
run here). Each test starts its own cluster."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.kube_charts import chart_archives, chart_repo
from support.kube_fake import FakeCluster, kube_cluster

IMAGE = "registry.example.com/smartflow/gateway"
SECRET_KEYS = {"ADMIN_API_KEY", "REDIS_PASSWORD", "POSTGRES_PASSWORD"}


@dataclass
class Setup:
    cluster: FakeCluster
    spec: Path
    repo_requests: list[str]

    def sfctl(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        """The real CLI on the fake cluster, polling it fast (its controllers move in ms)."""
        env = {
            **os.environ,
            "COLUMNS": "80",
            "NO_COLOR": "1",
            "SFCTL_KUBE_POLL": "0.05",
            # Helm's discovery cache: per test, not the user's ~/.kube/cache
            "KUBECACHEDIR": str(self.cluster.workdir / "kube-cache"),
        }
        where = ["--kubeconfig", str(self.cluster.kubeconfig), "--context", self.cluster.context]
        return subprocess.run(
            [sys.executable, "-m", "sfctl", *args, "-f", str(self.spec), *where],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )

    def deploy(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.sfctl("deploy", "k8s", *extra)

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.cluster.get(api_version, kind, namespace, name)
        assert obj is not None, f"{kind} {namespace}/{name} is not in the cluster"
        return obj

    def releases(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Helm's own release records (Secrets owner=helm), decoded, oldest first."""
        found = []
        for secret in self.cluster.list("v1", "Secret", namespace):
            labels = secret["metadata"].get("labels") or {}
            if labels.get("owner") == "helm" and labels.get("name") == name:
                found.append(decode_release(secret))
        return sorted(found, key=lambda r: int(r["version"]))


def decode_release(secret: dict[str, Any]) -> dict[str, Any]:
    """Helm's storage format: base64 (the API's) of base64 of gzip of JSON."""
    raw = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    return dict(json.loads(gzip.decompress(raw)))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    with kube_cluster(tmp_path / "cluster") as cluster, chart_repo(tmp_path / "repo") as url:
        cluster.images.add_addons()
        for datastore in ("redis:7.2-alpine", "timescale/timescaledb:2.17.2-pg16"):
            cluster.images.add(datastore, gateway=False)
        for tag in ("1.0.0", "1.1.0"):
            cluster.images.add(f"{IMAGE}:{tag}", version=tag, commit=f"c0ffee{tag[2]}")
        cluster.images.crash(
            f"{IMAGE}:1.2.0-broken",
            logs=["Traceback (most recent call last):", "KeyError: 'SMARTFLOW_CONFIG'"],
        )
        spec = tmp_path / "prod" / "sfctl.yaml"
        spec.parent.mkdir()
        spec.write_text(
            yaml.safe_dump(
                {
                    "domain": "llm.example.com",
                    "acme_email": "ops@example.com",
                    "image": {"repository": IMAGE, "tag": "1.0.0"},
                    "kubernetes": {
                        "cert_manager": {"chart_repo": str(url)},
                        "ingress_nginx": {"chart_repo": str(url)},
                    },
                }
            )
        )
        (spec.parent / ".env").write_text(
            "ADMIN_API_KEY=sk-admin-lifecycle-0123456789\n"
            "REDIS_PASSWORD=redis-pass-0123\nPOSTGRES_PASSWORD=pg-pass-0123\n"
        )
        yield Setup(cluster, spec, url.requests)


def deployed(setup: Setup) -> None:
    result = setup.deploy()
    assert result.returncode == 0, result.stderr + result.stdout


def test_deploy_installs_the_runbook_in_order_and_a_second_run_changes_nothing(
    setup: Setup,
) -> None:
    started = time.monotonic()
    first = setup.deploy()
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr + first.stdout
    out = first.stdout + first.stderr
    order = [
        out.index(f"{name}: installing") for name in ("cert-manager", "ingress-nginx", "smartflow")
    ]
    assert order == sorted(order)
    assert "sfctl doctor --upgrade" in out

    # cert-manager: the pinned chart from the repository, CRDs, the 29 s webhook timeout
    [cert_manager] = setup.releases("cert-manager", "cert-manager")
    assert cert_manager["chart"]["metadata"]["version"] == "v1.19.4"
    assert cert_manager["info"]["status"] == "deployed"
    assert "/charts/cert-manager-v1.19.4.tgz" in setup.repo_requests
    webhook = setup.get(
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "",
        "cert-manager-webhook",
    )
    assert {hook["timeoutSeconds"] for hook in webhook["webhooks"]} == {29}
    setup.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "clusterissuers.cert-manager.io"
    )
    [ingress] = setup.releases("ingress-nginx", "ingress-nginx")
    assert ingress["chart"]["metadata"]["version"] == "4.14.1"

    issuer = setup.get("cert-manager.io/v1", "ClusterIssuer", "", "letsencrypt-prod")
    assert issuer["spec"]["acme"]["email"] == "ops@example.com"

    namespace = setup.get("v1", "Namespace", "", "smartflow")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    secret = setup.get("v1", "Secret", "smartflow", "smartflow-secrets")
    assert set(secret["data"]) == SECRET_KEYS
    assert (
        base64.b64decode(secret["data"]["ADMIN_API_KEY"]).decode()
        == "sk-admin-lifecycle-0123456789"
    )
    assert "sk-admin-lifecycle" not in out  # never printed

    [smartflow] = setup.releases("smartflow", "smartflow")
    assert smartflow["info"]["status"] == "deployed"
    proxy = setup.get("apps/v1", "Deployment", "smartflow", "smartflow-proxy")
    assert proxy["status"]["availableReplicas"] == proxy["spec"]["replicas"]
    assert "smartflow: revision 1 is rolled out" in out
    assert took < 200

    second = setup.deploy()
    assert second.returncode == 0, second.stderr + second.stdout
    assert second.stdout.count("unchanged") + second.stderr.count("unchanged") >= 3
    assert len(setup.releases("smartflow", "smartflow")) == 1
    assert len(setup.releases("cert-manager", "cert-manager")) == 1


def test_a_crash_looping_upgrade_fails_fast_with_its_logs_and_is_rolled_back(setup: Setup) -> None:
    deployed(setup)
    started = time.monotonic()
    result = setup.sfctl("upgrade", "k8s", "--image-tag", "1.2.0-broken", "--timeout", "600")
    took = time.monotonic() - started
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "CrashLoopBackOff" in out
    assert "KeyError: 'SMARTFLOW_CONFIG'" in out  # the crashed container's last lines
    assert "rolled back to revision 1, it is healthy" in " ".join(out.split())
    assert took < 120  # far from the 600 s timeout: it failed on the pod's own reason
    # Helm recorded the upgrade as applied (sfctl, not Helm, waited), then the rollback
    revisions = [
        (r["info"]["status"], r["info"]["description"])
        for r in setup.releases("smartflow", "smartflow")
    ]
    assert revisions == [
        ("superseded", "sfctl deploy k8s"),
        ("superseded", "sfctl upgrade k8s"),
        ("deployed", "Rollback to 1"),
    ]
    proxy = setup.get("apps/v1", "Deployment", "smartflow", "smartflow-proxy")
    assert proxy["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:1.0.0"


def test_an_image_that_cannot_be_pulled_is_named(setup: Setup) -> None:
    deployed(setup)
    result = setup.sfctl("upgrade", "k8s", "--image-tag", "9.9.9", "--no-rollback")
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, out
    assert "ImagePullBackOff" in out or "ErrImagePull" in out
    assert f"{IMAGE}:9.9.9" in out
    assert "--no-rollback" in out
    proxy = setup.get("apps/v1", "Deployment", "smartflow", "smartflow-proxy")
    assert proxy["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:9.9.9"


def test_upgrade_verify_history_rollback_and_scale(setup: Setup) -> None:
    deployed(setup)
    upgraded = setup.sfctl(
        "upgrade", "k8s", "--image-tag", "1.1.0", "--set", "apiServer.replicas=3"
    )
    assert upgraded.returncode == 0, upgraded.stderr + upgraded.stdout
    api_server = setup.get("apps/v1", "Deployment", "smartflow", "smartflow-api-server")
    assert api_server["spec"]["replicas"] == 3
    values = setup.releases("smartflow", "smartflow")[-1]["config"]
    assert values["image"]["tag"] == "1.1.0"
    assert values["ingress"]["host"] == "llm.example.com"  # the installed values were reused

    verified = setup.sfctl("verify", "k8s", "--expect-version", "1.1.0")
    assert verified.returncode == 0, verified.stderr + verified.stdout
    stale = setup.sfctl("verify", "k8s", "--expect-version", "1.0.0")
    assert stale.returncode == 1

    history = setup.sfctl("history", "k8s")
    assert history.returncode == 0, history.stderr
    assert all(len(line) <= 80 for line in history.stdout.splitlines())
    assert "superseded" in history.stdout and "deployed" in history.stdout

    back = setup.sfctl("rollback", "k8s")
    assert back.returncode == 0, back.stderr + back.stdout
    proxy = setup.get("apps/v1", "Deployment", "smartflow", "smartflow-proxy")
    assert proxy["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:1.0.0"
    pruned = setup.sfctl("rollback", "k8s", "42")
    assert pruned.returncode == 1
    assert "revision 42 of smartflow is not kept" in " ".join(pruned.stderr.split())

    scaled = setup.sfctl("scale", "k8s", "--min", "3", "--max", "5")
    assert scaled.returncode == 0, scaled.stderr + scaled.stdout
    hpa = setup.get("autoscaling/v2", "HorizontalPodAutoscaler", "smartflow", "smartflow-proxy")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 5)
    refused = setup.sfctl("scale", "k8s", "--replicas", "4")
    assert refused.returncode == 2 and "--min/--max" in refused.stderr


def test_a_release_stuck_pending_is_explained_and_recovered(setup: Setup) -> None:
    deployed(setup)
    upgraded = setup.sfctl("upgrade", "k8s", "--image-tag", "1.1.0")
    assert upgraded.returncode == 0, upgraded.stderr
    # what a run killed inside Helm's apply leaves: the newest revision pending-upgrade
    record = max(
        (
            s
            for s in setup.cluster.list("v1", "Secret", "smartflow")
            if (s["metadata"].get("labels") or {}).get("owner") == "helm"
        ),
        key=lambda s: int(s["metadata"]["labels"]["version"]),
    )
    release = decode_release(record)
    release["info"]["status"] = "pending-upgrade"
    packed = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
    record["data"]["release"] = base64.b64encode(packed.encode()).decode()
    record["metadata"]["labels"]["status"] = "pending-upgrade"
    setup.cluster.apply(record)

    refused = setup.sfctl("upgrade", "k8s", "--image-tag", "1.0.0")
    message = " ".join(refused.stderr.split())
    assert refused.returncode == 1
    assert "release smartflow is pending-upgrade at revision 2" in message
    assert "`sfctl rollback k8s 1`" in message

    recovered = setup.sfctl("rollback", "k8s", "1")
    assert recovered.returncode == 0, recovered.stderr + recovered.stdout
    again = setup.sfctl("upgrade", "k8s", "--image-tag", "1.1.0")
    assert again.returncode == 0, again.stderr


def test_dry_run_prints_what_would_change_and_changes_nothing(setup: Setup) -> None:
    fresh = setup.deploy("--dry-run")
    assert fresh.returncode == 0, fresh.stderr + fresh.stdout
    assert "Namespace smartflow: would be created" in fresh.stdout
    assert setup.cluster.get("v1", "Namespace", "", "smartflow") is None
    assert setup.releases("cert-manager", "cert-manager") == []

    deployed(setup)
    spec = yaml.safe_load(setup.spec.read_text())
    spec["image"]["tag"] = "1.1.0"
    spec["acme_email"] = "certs@example.org"
    setup.spec.write_text(yaml.safe_dump(spec))
    (setup.spec.parent / ".env").write_text(
        "ADMIN_API_KEY=sk-admin-rotated-9876543210\n"
        "REDIS_PASSWORD=redis-pass-0123\nPOSTGRES_PASSWORD=pg-pass-0123\n"
    )
    planned = setup.deploy("--dry-run")
    out = planned.stdout
    assert planned.returncode == 0, planned.stderr + out
    assert "Secret smartflow-secrets: would change (values differ)" in out
    assert "ClusterIssuer letsencrypt-prod: would be updated" in out
    assert "Namespace smartflow: unchanged" in out
    assert "cert-manager: no change" in out
    assert f"+ image: {IMAGE}:1.1.0" in " ".join(out.split()) or f"{IMAGE}:1.1.0" in out
    assert "sk-admin-rotated" not in out + planned.stderr
    assert len(setup.releases("smartflow", "smartflow")) == 1
    proxy = setup.get("apps/v1", "Deployment", "smartflow", "smartflow-proxy")
    assert proxy["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:1.0.0"


def test_a_missing_secret_key_stops_before_any_change(setup: Setup) -> None:
    (setup.spec.parent / ".env").write_text("ADMIN_API_KEY=sk-admin-lifecycle-0123456789\n")
    result = setup.deploy()
    assert result.returncode == 1
    assert "lacks REDIS_PASSWORD, POSTGRES_PASSWORD" in " ".join(result.stderr.split())
    assert setup.releases("cert-manager", "cert-manager") == []


def test_charts_from_a_folder_for_an_air_gapped_cluster(setup: Setup, tmp_path: Path) -> None:
    folder = tmp_path / "charts"
    folder.mkdir()
    chart_archives(folder)
    before = len(setup.repo_requests)
    result = setup.deploy("--charts-from", str(folder))
    assert result.returncode == 0, result.stderr + result.stdout
    assert len(setup.repo_requests) == before  # the repository was never asked
    assert setup.releases("cert-manager", "cert-manager")[0]["info"]["status"] == "deployed"
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = setup.deploy("--charts-from", str(empty))
    assert refused.returncode == 1 and "no cert-manager-v1.19.4.tgz there" in refused.stderr


def test_pods_that_fit_no_node_fail_with_the_schedulers_message(setup: Setup) -> None:
    deployed(setup)
    result = setup.sfctl(
        "upgrade", "k8s", "--set", "apiServer.resources.requests.cpu=64", "--timeout", "900"
    )
    out = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 1, out
    assert "Unschedulable" in out and "Insufficient cpu" in out
    assert "rolled back to revision 1" in out


def test_teardown_removes_the_release_and_its_secrets_and_keeps_the_data(setup: Setup) -> None:
    deployed(setup)
    result = setup.sfctl("teardown", "k8s")
    assert result.returncode == 0, result.stderr + result.stdout
    assert setup.releases("smartflow", "smartflow") == []
    assert setup.cluster.get("v1", "Secret", "smartflow", "smartflow-secrets") is None
    assert setup.cluster.get("apps/v1", "Deployment", "smartflow", "smartflow-proxy") is None
    assert setup.releases("cert-manager", "cert-manager")  # shared add-ons stay
    assert "data volumes are kept" in result.stdout + result.stderr
    again = setup.sfctl("teardown", "k8s")
    assert again.returncode == 0 and "was not installed" in again.stdout + again.stderr


def test_doctor_errors_on_the_live_cluster_stop_the_deploy_unless_forced(setup: Setup) -> None:
    setup.cluster.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "legacy-policy"},
            "webhooks": [
                {
                    "name": "validate.legacy.example.com",
                    "timeoutSeconds": 30,
                    "admissionReviewVersions": ["v1"],
                    "sideEffects": "None",
                    "clientConfig": {"url": "https://legacy.example.com/validate"},
                    "rules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["configmaps"],
                        }
                    ],
                }
            ],
        }
    )
    stopped = setup.deploy()
    message = " ".join((stopped.stdout + stopped.stderr).split())
    assert stopped.returncode == 1, message
    assert "webhook-timeout" in message and "timeoutSeconds 30" in message
    assert "sfctl doctor --upgrade found 1 error(s) in the cluster" in message
    assert setup.releases("cert-manager", "cert-manager") == []  # nothing was changed
    forced = setup.deploy("--force")
    assert forced.returncode == 0, forced.stderr + forced.stdout
    assert setup.releases("smartflow", "smartflow")
