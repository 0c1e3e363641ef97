"""What the rendered objects do: the guide's tuning and hardening, checked on the chart's output."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from support.helm_chart import GATEWAY, by_kind, custom_values, objects, pod_specs, render

PORTS = {"proxy": 7775, "api-server": 7778, "compliance": 7777, "policy-perfect": 7782}
GUIDE_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-body-size": "50m",
    "nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
    "nginx.ingress.kubernetes.io/proxy-send-timeout": "300",
}


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return objects(render())


@pytest.fixture(scope="module")
def custom() -> list[dict[str, Any]]:
    return objects(render(custom_values()))


def _container(objs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (container,) = by_kind(objs, "Deployment")[name]["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container["env"]}


# --- services, probes, resources ---------------------------------------------------------------


def test_four_services_from_one_image(default: list[dict[str, Any]]) -> None:
    deployments = by_kind(default, "Deployment")
    assert sorted(deployments) == sorted(f"smartflow-{s}" for s in GATEWAY)
    images = set()
    for service in GATEWAY:
        container = _container(default, f"smartflow-{service}")
        assert _env(container)["SERVICE_TYPE"]["value"] == service
        assert container["ports"] == [
            {"name": "http", "containerPort": PORTS[service], "protocol": "TCP"}
        ]
        images.add(container["image"])
        svc = by_kind(default, "Service")[f"smartflow-{service}"]
        assert svc["spec"]["ports"][0]["port"] == PORTS[service]
    assert images == {"smartflow/gateway:0.1.0"}


def test_probes(default: list[dict[str, Any]]) -> None:
    for service in GATEWAY:
        container = _container(default, f"smartflow-{service}")
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        startup = container["startupProbe"]
        assert (
            startup["periodSeconds"] * startup["failureThreshold"] >= 20
        )  # the guide's start_period


def test_no_cpu_limit_on_proxy_and_api_server(
    default: list[dict[str, Any]], custom: list[dict[str, Any]]
) -> None:
    for objs, prefix in ((default, "smartflow"), (custom, "acme-llm")):
        for service in GATEWAY:
            resources = _container(objs, f"{prefix}-{service}")["resources"]
            assert "memory" in resources["limits"]  # memory limits always
            assert "cpu" in resources["requests"]  # CPU requests for placement
            if service in ("proxy", "api-server"):
                assert "cpu" not in resources["limits"]
    # the guide's numbers
    assert _container(default, "smartflow-proxy")["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }
    assert _container(custom, "acme-llm-compliance")["resources"]["limits"]["cpu"] == "1.5"


def test_datastores_have_memory_limits_and_volumes(default: list[dict[str, Any]]) -> None:
    sets = by_kind(default, "StatefulSet")
    assert sorted(sets) == ["smartflow-redis", "smartflow-timescaledb"]
    for sts in sets.values():
        (container,) = sts["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["limits"]["memory"]
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"]["storage"]
        assert any(m["name"] == "data" for m in container["volumeMounts"])
        assert sts["spec"]["serviceName"] == sts["metadata"]["name"]
    redis = sets["smartflow-redis"]["spec"]["template"]["spec"]["containers"][0]
    assert redis["args"][:2] == ["--requirepass", "$(REDIS_PASSWORD)"]


# --- scaling and disruption --------------------------------------------------------------------


def test_hpa_owns_the_proxy_replicas(default: list[dict[str, Any]]) -> None:
    hpas = by_kind(default, "HorizontalPodAutoscaler")
    assert list(hpas) == ["smartflow-proxy"]
    spec = hpas["smartflow-proxy"]["spec"]
    assert hpas["smartflow-proxy"]["apiVersion"] == "autoscaling/v2"
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "smartflow-proxy",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 8)
    (metric,) = spec["metrics"]
    assert metric["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 60},
    }
    deployments = by_kind(default, "Deployment")
    assert "replicas" not in deployments["smartflow-proxy"]["spec"]
    assert deployments["smartflow-api-server"]["spec"]["replicas"] == 2
    assert deployments["smartflow-compliance"]["spec"]["replicas"] == 1


def test_hpa_off_puts_replicas_back() -> None:
    objs = objects(render({"proxy": {"autoscaling": {"enabled": False}, "replicas": 3}}))
    assert by_kind(objs, "HorizontalPodAutoscaler") == {}
    assert by_kind(objs, "Deployment")["smartflow-proxy"]["spec"]["replicas"] == 3


def _replicas(objs: list[dict[str, Any]], name: str) -> int:
    hpa = by_kind(objs, "HorizontalPodAutoscaler").get(name)
    return int(
        hpa["spec"]["minReplicas"] if hpa else by_kind(objs, "Deployment")[name]["spec"]["replicas"]
    )


@pytest.mark.parametrize("case", ["default", "custom", "single"])
def test_pdbs_never_block_a_drain(case: str) -> None:
    values = {
        "default": None,
        "custom": custom_values(),
        "single": {
            n: {"replicas": 1, "autoscaling": {"enabled": False}} for n in ("proxy", "apiServer")
        },
    }[case]
    objs = objects(render(values))
    pdbs = by_kind(objs, "PodDisruptionBudget")
    assert pdbs
    for name, pdb in pdbs.items():
        assert "minAvailable" not in pdb["spec"]
        allowed = pdb["spec"]["maxUnavailable"]
        replicas = _replicas(objs, name)
        if isinstance(allowed, str):  # a percentage rounds up: at least one pod
            allowed = -(-replicas * int(allowed.rstrip("%")) // 100)
        assert allowed >= 1, f"{name}: a drain could never evict a pod"
        assert (
            pdb["spec"]["selector"]["matchLabels"]
            == by_kind(objs, "Deployment")[name]["spec"]["selector"]["matchLabels"]
        )


# --- latency tuning ----------------------------------------------------------------------------


def test_ndots_2_on_every_gateway_pod(default: list[dict[str, Any]]) -> None:
    for name, spec in pod_specs(default).items():
        if by_kind(default, "Deployment").get(name) is not None:
            assert spec["dnsConfig"]["options"] == [{"name": "ndots", "value": "2"}]


def test_node_affinity(default: list[dict[str, Any]], custom: list[dict[str, Any]]) -> None:
    preferred = by_kind(default, "Deployment")["smartflow-proxy"]["spec"]["template"]["spec"][
        "affinity"
    ]
    (term,) = preferred["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["preference"]["matchExpressions"] == [
        {"key": "role", "operator": "In", "values": ["smartflow"]}
    ]
    required = by_kind(custom, "Deployment")["acme-llm-proxy"]["spec"]["template"]["spec"][
        "affinity"
    ]
    (selector,) = required["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert selector["matchExpressions"][0] == {
        "key": "role",
        "operator": "In",
        "values": ["smartflow"],
    }
    none = objects(render({"nodeAffinity": {"mode": "none"}}))
    assert (
        "affinity" not in by_kind(none, "Deployment")["smartflow-proxy"]["spec"]["template"]["spec"]
    )


def test_external_traffic_policy_local(
    default: list[dict[str, Any]], custom: list[dict[str, Any]]
) -> None:
    # ClusterIP behind the ingress: the field is invalid there and left out
    assert "externalTrafficPolicy" not in by_kind(default, "Service")["smartflow-proxy"]["spec"]
    proxy = by_kind(custom, "Service")["acme-llm-proxy"]["spec"]
    assert (proxy["type"], proxy["externalTrafficPolicy"]) == ("LoadBalancer", "Local")
    assert by_kind(custom, "Service")["acme-llm-api-server"]["spec"]["type"] == "ClusterIP"


# --- config rolls pods -------------------------------------------------------------------------


def _checksums(values: dict[str, Any] | None) -> dict[str, str]:
    deployment = by_kind(objects(render(values)), "Deployment")["smartflow-proxy"]
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return {k: v for k, v in annotations.items() if k.startswith("checksum/")}


def test_checksum_annotations_roll_pods_on_config_change() -> None:
    base = _checksums({"secrets": {"existingSecret": "prod"}})
    assert set(base) == {"checksum/config", "checksum/secret"}
    changed = _checksums(
        {"secrets": {"existingSecret": "prod"}, "config": {"semanticCacheThreshold": 0.8}}
    )
    assert changed["checksum/config"] != base["checksum/config"]
    assert changed["checksum/secret"] == base["checksum/secret"]
    gateway = _checksums(
        {"secrets": {"existingSecret": "prod"}, "config": {"gateway": {"models": []}}}
    )
    assert gateway["checksum/config"] != base["checksum/config"]
    # unrelated values leave the pods alone
    scaled = _checksums({"secrets": {"existingSecret": "prod"}, "apiServer": {"replicas": 5}})
    assert scaled == base
    moved = _checksums({"secrets": {"existingSecret": "prod-2"}})
    assert moved["checksum/secret"] != base["checksum/secret"]


def test_configmap_carries_the_settings(custom: list[dict[str, Any]]) -> None:
    (config,) = by_kind(custom, "ConfigMap").values()
    data = config["data"]
    assert data["MCP_GATEWAY_ENABLED"] == "true"
    assert data["SEMANTIC_CACHE_THRESHOLD"] == "0.85"
    assert data["COMPLIANCE_TIMEOUT_SECS"] == "5"
    assert data["RATE_LIMIT_REQUESTS_PER_HOUR"] == "1200"
    assert data["SMARTFLOW_CONFIG"] == "/etc/smartflow/smartflow.yaml"
    assert "api_key_env: OPENAI_API_KEY" in data["smartflow.yaml"]
    mounts = _container(custom, "acme-llm-proxy")["volumeMounts"]
    assert {"name": "config", "mountPath": "/etc/smartflow", "readOnly": True} in mounts


# --- network policies --------------------------------------------------------------------------


def _peers(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])]


def _namespaces(policy: dict[str, Any]) -> set[str]:
    return {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in _peers(policy)
        if "namespaceSelector" in p
    }


def test_datastores_reachable_only_from_smartflow_pods(default: list[dict[str, Any]]) -> None:
    policies = by_kind(default, "NetworkPolicy")
    for store, port in (("redis", 6379), ("timescaledb", 5432)):
        policy = policies[f"smartflow-{store}"]
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == store
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        (peer,) = rule["from"]
        assert set(peer) == {"podSelector"}  # this namespace only, no namespaceSelector
        assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "smartflow"
        (expr,) = peer["podSelector"]["matchExpressions"]
        assert (expr["key"], expr["operator"], sorted(expr["values"])) == (
            "app.kubernetes.io/component",
            "In",
            sorted(GATEWAY),
        )


def test_management_api_not_reachable_from_the_ingress(
    default: list[dict[str, Any]], custom: list[dict[str, Any]]
) -> None:
    policies = by_kind(default, "NetworkPolicy")
    assert _namespaces(policies["smartflow-api-server"]) == set()
    assert _namespaces(policies["smartflow-proxy"]) == {"ingress-nginx"}
    assert _namespaces(policies["smartflow-compliance"]) == {"ingress-nginx"}
    # exposed on purpose (custom: behind auth): then the ingress namespace may reach it
    custom_policies = by_kind(custom, "NetworkPolicy")
    assert _namespaces(custom_policies["acme-llm-api-server"]) == {
        "ingress-internal",
        "ops",
        "observability",
    }
    # compliance not routed in the custom values: not reachable from the ingress either
    assert _namespaces(custom_policies["acme-llm-compliance"]) == {"observability"}


def test_every_pod_is_covered_by_a_network_policy(default: list[dict[str, Any]]) -> None:
    policies = by_kind(default, "NetworkPolicy").values()
    for obj in default:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        assert any(
            p["spec"]["podSelector"]["matchLabels"].items() <= labels.items() for p in policies
        ), obj["metadata"]["name"]


def test_public_proxy_accepts_clients_on_its_port_only(custom: list[dict[str, Any]]) -> None:
    (rule,) = by_kind(custom, "NetworkPolicy")["acme-llm-proxy"]["spec"]["ingress"]
    assert rule == {"ports": [{"port": 7775, "protocol": "TCP"}]}


# --- ingress -----------------------------------------------------------------------------------


def test_ingress_annotations_and_routes(default: list[dict[str, Any]]) -> None:
    (ingress,) = by_kind(default, "Ingress").values()
    annotations = ingress["metadata"]["annotations"]
    assert GUIDE_ANNOTATIONS.items() <= annotations.items()
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["smartflow.example.com"], "secretName": "smartflow-tls"}
    ]
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"] for p in rule["http"]["paths"]}
    for path in ("/v1", "/anthropic", "/cursor", "/a2a", "/api/mcp", "/.well-known"):
        assert routes[path] == {"name": "smartflow-proxy", "port": {"number": 7775}}
    assert routes["/api/compliance"]["name"] == "smartflow-compliance"
    assert routes["/api/policy"]["name"] == "smartflow-policy-perfect"


def test_management_api_is_not_in_the_public_ingress(
    default: list[dict[str, Any]], custom: list[dict[str, Any]]
) -> None:
    for objs in (default, custom):
        public = [i for n, i in by_kind(objs, "Ingress").items() if not n.endswith("-management")]
        (ingress,) = public
        backends = {
            p["backend"]["service"]["name"]
            for r in ingress["spec"]["rules"]
            for p in r["http"]["paths"]
        }
        assert not any(b.endswith("api-server") for b in backends)
        paths = {p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
        assert not paths & {"/api/enterprise", "/api/guardrails", "/api/routing", "/api/policies"}
    assert "smartflow-management" not in by_kind(default, "Ingress")


def test_exposed_management_api_requires_auth(custom: list[dict[str, Any]]) -> None:
    ingress = by_kind(custom, "Ingress")["acme-llm-management"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-type"] == "basic"
    assert annotations["nginx.ingress.kubernetes.io/auth-secret"] == "acme-llm-management-auth"
    assert (
        annotations["nginx.ingress.kubernetes.io/whitelist-source-range"]
        == "203.0.113.0/24,10.0.0.0/8"
    )
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "600"
    backends = {
        p["backend"]["service"]["name"]
        for r in ingress["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert backends == {"acme-llm-api-server"}


# --- security hardening ------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["default", "custom"])
def test_pods_are_hardened(
    case: str, default: list[dict[str, Any]], custom: list[dict[str, Any]]
) -> None:
    """The `restricted` Pod Security Standard, plus a read-only root and no API token."""
    specs = pod_specs(default if case == "default" else custom)
    assert len(specs) == (7 if case == "default" else 6)  # 4 services, datastores, the test pod
    for name, spec in specs.items():
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name
            assert ctx["runAsNonRoot"] is True, name
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name


def test_service_account_has_no_token(default: list[dict[str, Any]]) -> None:
    (account,) = by_kind(default, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False


# --- secrets -----------------------------------------------------------------------------------


def _secret_ref(env: dict[str, dict[str, Any]], name: str) -> tuple[str, str]:
    ref = env[name]["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_existing_secret_is_only_referenced(custom: list[dict[str, Any]]) -> None:
    assert by_kind(custom, "Secret") == {}
    env = _env(_container(custom, "acme-llm-proxy"))
    assert _secret_ref(env, "ADMIN_API_KEY") == ("acme-llm-secrets", "admin-key")
    assert _secret_ref(env, "REDIS_PASSWORD") == ("acme-llm-secrets", "redis-password")
    assert _secret_ref(env, "ANTHROPIC_API_KEY") == ("anthropic", "api-key")
    assert _secret_ref(env, "OPENAI_API_KEY") == ("acme-llm-secrets", "OPENAI_API_KEY")
    # the URLs get their passwords from Kubernetes' $(VAR) expansion
    redis_url = "rediss://:$(REDIS_PASSWORD)@redis.internal.example:6380/2"
    assert env["KEYSTORE_REDIS_URL"]["value"] == redis_url
    db_url = "postgresql://gateway:$(POSTGRES_PASSWORD)@acme-llm-timescaledb:5432/audit"
    assert env["DATABASE_URL"]["value"] == db_url
    names = list(env)
    assert names.index("REDIS_PASSWORD") < names.index("KEYSTORE_REDIS_URL")  # $(VAR) needs order
    assert "smartflow-redis" not in str(custom) and "acme-llm-redis" not in str(custom)


def test_external_url_from_a_secret_key() -> None:
    objs = objects(
        render({"timescaledb": {"bundled": False, "external": {"urlSecretKey": "DATABASE_URL"}}})
    )
    env = _env(_container(objs, "smartflow-api-server"))
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "DATABASE_URL"
    assert "POSTGRES_PASSWORD" not in env
    assert "smartflow-timescaledb" not in by_kind(objs, "StatefulSet")


def test_development_secret_is_created_from_values() -> None:
    admin = "dev-admin-key-0123456789"
    objs = objects(render({"secrets": {"adminApiKey": admin, "redisPassword": "redispw"}}))
    (secret,) = by_kind(objs, "Secret").values()
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["ADMIN_API_KEY"] == admin
    assert data["REDIS_PASSWORD"] == "redispw"
    assert len(data["POSTGRES_PASSWORD"]) == 40  # generated


# --- helm test ---------------------------------------------------------------------------------


def test_helm_test_hook_checks_every_health_endpoint(default: list[dict[str, Any]]) -> None:
    (pod,) = by_kind(default, "Pod").values()
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["python3", "-c"]
    urls = container["args"][1:]
    assert urls == [f"http://smartflow-{s}:{PORTS[s]}/health" for s in sorted(GATEWAY)]
    assert pod["spec"]["restartPolicy"] == "Never"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 503
        body = json.dumps({"status": "ok" if status == 200 else "starting"}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_helm_test_script_passes_and_fails(
    default: list[dict[str, Any]], health_server: str
) -> None:
    """The hook's script, run as the pod runs it, against a real server on loopback."""
    (pod,) = by_kind(default, "Pod").values()
    script = pod["spec"]["containers"][0]["args"][0]

    def run(*urls: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *urls],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = run(f"{health_server}/health", f"{health_server}/health")
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.count(" 200 ok") == 2
    failing = run(f"{health_server}/health", f"{health_server}/ready")
    assert failing.returncode == 1
    assert "FAILED" in failing.stdout
