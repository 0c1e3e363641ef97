"""`sfctl teardown k8s`: uninstall the release and the Secrets sfctl made for it. The data
(the StatefulSets' PersistentVolumeClaims, which Helm never deletes) only with `volumes`; the
add-ons only with `addons`, since other workloads of the cluster may rely on them."""

from __future__ import annotations

from typing import Any

from sfctl.kube.api import KubeTarget, list_all, read_json
from sfctl.kube.cluster_read import release_selector
from sfctl.kube.env_secret import MANAGED_BY
from sfctl.kube.release import Releases

ADDON_RELEASES = (("cert-manager", "cert-manager"), ("ingress-nginx", "ingress-nginx"))


def teardown(
    target: KubeTarget, api: Any, release: str, *, volumes: bool, addons: bool
) -> list[str]:
    """What was removed, a line each."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    ns = target.namespace
    done: list[str] = []
    with Releases(target) as releases:
        removed = releases.uninstall(release)
    done.append(f"release {release}: {'uninstalled' if removed else 'was not installed'}")
    managed = "app.kubernetes.io/managed-by"
    ours = f"{release_selector(release)},{managed}={MANAGED_BY[managed]}"
    for name in _delete_matching(core, "secret", ns, ours):
        done.append(f"Secret {name}: deleted")
    if volumes:
        claims = _delete_matching(core, "persistent_volume_claim", ns, release_selector(release))
        done += [f"PersistentVolumeClaim {name}: deleted (its data is gone)" for name in claims]
    if addons:
        for name, namespace in ADDON_RELEASES:
            with Releases(KubeTarget(target.kubeconfig, target.context, namespace)) as releases:
                gone = releases.uninstall(name)
            done.append(f"release {name}: {'uninstalled' if gone else 'was not installed'}")
    return done


def _delete_matching(core: Any, kind: str, namespace: str, selector: str) -> list[str]:
    """Delete every `kind` (the client's snake_case name) in `namespace` matching `selector`;
    the names deleted."""
    list_method = getattr(core, f"list_namespaced_{kind}")
    delete_method = getattr(core, f"delete_namespaced_{kind}")
    names = [
        item["metadata"]["name"]
        for item in list_all(
            lambda **kw: list_method(namespace, **kw), kind, label_selector=selector
        )
    ]
    for name in names:
        read_json(
            lambda n=name, **kw: delete_method(n, namespace, **kw), f"{kind} {name}", verb="delete"
        )
    return names
