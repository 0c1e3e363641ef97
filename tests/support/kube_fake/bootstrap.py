"""What a fresh cluster already holds before anyone installs anything: the four system
namespaces, the `kubernetes` Service, a default StorageClass, and the worker Nodes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .controllers import make_node
from .openapi import SERVER_VERSION
from .ops import Api, WriteOptions

SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
INSTANCE_TYPE = "m5.xlarge"


def node_name(index: int) -> str:
    return f"ip-10-0-1-{11 + index}.eu-west-1.compute.internal"


def nodes(
    count: int, cpu: str, memory: str, labels: Mapping[str, str], now: datetime
) -> list[dict[str, Any]]:
    """Ready worker Nodes (as `kubectl get nodes -o json` shows them on a managed cluster)."""
    found = []
    for index in range(count):
        node = make_node(node_name(index), cpu=cpu, memory=memory, index=index, now=now)
        node["metadata"]["labels"].update(
            {
                "node.kubernetes.io/instance-type": INSTANCE_TYPE,
                "topology.kubernetes.io/region": "eu-west-1",
                "topology.kubernetes.io/zone": f"eu-west-1{'abc'[index % 3]}",
                **labels,
            }
        )
        info = node["status"].setdefault("nodeInfo", {})
        info.update(kubeletVersion=SERVER_VERSION, kubeProxyVersion=SERVER_VERSION)
        node["spec"]["providerID"] = f"aws:///eu-west-1{'abc'[index % 3]}/i-0{index:016x}"
        found.append(node)
    return found


def seed(api: Api) -> None:
    """Create the system objects of a new cluster."""
    options = WriteOptions(manager="kube-apiserver", directive="Strict")
    registry = api.store.registry
    namespaces = registry.by_kind("v1", "Namespace")
    services = registry.by_kind("v1", "Service")
    classes = registry.by_kind("storage.k8s.io/v1", "StorageClass")
    assert namespaces is not None and services is not None and classes is not None
    for name in SYSTEM_NAMESPACES:
        api.create(namespaces, "", {"metadata": {"name": name}}, options, [])
    kubernetes = {
        "metadata": {
            "name": "kubernetes",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "clusterIP": "10.96.0.1",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
    }
    api.create(services, "default", kubernetes, options, [])
    standard = {
        "metadata": {
            "name": "standard",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "ebs.csi.aws.com",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    api.create(classes, "", standard, options, [])
