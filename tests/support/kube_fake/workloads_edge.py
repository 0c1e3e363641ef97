"""What sits at the cluster's edge: cert-manager (issuers, ingress-shim, certificates and their
requests), ingress-nginx's Ingress status, and the cloud's LoadBalancer addresses.

They act only while their controller runs, as on a real cluster: cert-manager's once a
Deployment running the cert-manager-controller image is Available, ingress status once the
ingress-nginx controller is. Wording follows cert-manager v1.19 (DoesNotExist, Issuing,
IssuerNotFound, "Certificate is up to date and has not expired").
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

from .workloads_base import (
    Obj,
    State,
    condition_true,
    controller_ref,
    get_condition,
    name_of,
    ns_of,
    owner_refs,
    set_condition,
    stamp,
)

CERT_MANAGER = "cert-manager-controller"
CM_GROUP = "cert-manager.io"
CLUSTER_RESOURCE_NAMESPACE = "cert-manager"
LB_ADDRESS_PREFIX = "203.0.113."


def crd_installed(state: State, group: str, kind: str) -> bool:
    """Whether the API serves `kind` (its CustomResourceDefinition is there)."""
    return any(
        (crd.get("spec") or {}).get("group") == group
        and ((crd.get("spec") or {}).get("names") or {}).get("kind") == kind
        for crd in state.of_kind("CustomResourceDefinition")
    )


def controller_running(state: State, image_part: str) -> bool:
    """A Deployment running an image whose reference contains `image_part` is Available."""
    for d in state.of_kind("Deployment", group="apps"):
        containers = (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        if any(image_part in str(c.get("image", "")) for c in containers) and condition_true(
            d, "Available"
        ):
            return True
    return False


def sync_edge(state: State) -> None:
    sync_load_balancers(state)
    if controller_running(state, "ingress-nginx/controller"):
        sync_ingress_status(state)
    if controller_running(state, "cert-manager-controller"):
        sync_issuers(state)
        sync_certificates(state)  # before the shim: a new Certificate waits for the next tick
        sync_ingress_shim(state)


# the add-ons' one-shot programs ------------------------------------------------------------
def one_shot_exit(
    state: State, pod: Obj, container: Obj, ran: float, default_after: float
) -> int | None:
    """The exit code of a Job's container that has run for `ran` seconds, None while it still
    works. The add-ons' hook programs do their real work: kube-webhook-certgen `create` writes
    the admission Secret the ingress-nginx controller mounts and `patch` puts its CA into the
    webhook configuration; cert-manager's startupapicheck waits (up to --wait) for the webhook.
    Any other image exits 0 after `default_after` seconds."""
    image = str(container.get("image", ""))
    args = [str(a).replace("$(POD_NAMESPACE)", ns_of(pod)) for a in container.get("args") or []]
    options = dict(a[2:].partition("=")[::2] for a in args if a.startswith("--"))
    if "kube-webhook-certgen" in image and args:
        return _certgen(state, args[0], options, ns_of(pod))
    if "cert-manager-startupapicheck" in image:
        if controller_running(state, "cert-manager-webhook"):
            return 0
        return 1 if ran >= _duration(options.get("wait", "1m")) else None
    return 0 if ran >= default_after else None


def _duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        return 60.0


def _certgen(state: State, command: str, options: dict[str, str], namespace: str) -> int:
    secret_ns = options.get("namespace") or namespace
    secret_name = options.get("secret-name", "")
    secret = state.find("Secret", secret_ns, secret_name)
    if command == "create":
        if secret is None:
            hosts = options.get("host", "").split(",")
            crt, key = _certificate(
                [h for h in hosts if h] or [secret_name], "nil1", state.world.now
            )
            state.create(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": secret_name, "namespace": secret_ns},
                    "type": "Opaque",
                    "data": {"ca": _b64(crt), "cert": _b64(crt), "key": _b64(key)},
                }
            )
        return 0
    if command == "patch":
        if secret is None:
            return 1
        ca = (secret.get("data") or {}).get("ca", "")
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            if kind.startswith("Mutating") and options.get("patch-mutating", "true") == "false":
                continue
            config = state.find(kind, "", options.get("webhook-name", ""))
            for hook in (config or {}).get("webhooks") or []:
                hook.setdefault("clientConfig", {})["caBundle"] = ca
                if options.get("patch-failure-policy"):
                    hook["failurePolicy"] = options["patch-failure-policy"]
        return 0
    return 1


# cloud load balancers ----------------------------------------------------------------------
def sync_load_balancers(state: State) -> None:
    taken = {
        str(i.get("ip"))
        for s in state.of_kind("Service")
        for i in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    }
    for svc in state.of_kind("Service"):
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        lb = svc.setdefault("status", {}).setdefault("loadBalancer", {})
        if lb.get("ingress"):
            continue
        ip = next(
            f"{LB_ADDRESS_PREFIX}{n}"
            for n in range(10, 250)
            if f"{LB_ADDRESS_PREFIX}{n}" not in taken
        )
        taken.add(ip)
        lb["ingress"] = [{"ip": ip, "ipMode": "VIP"}]
        state.event(
            svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer", "service-controller"
        )
        state.event(
            svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer", "service-controller"
        )


def sync_ingress_status(state: State) -> None:
    """ingress-nginx publishes its controller Service's address on the Ingresses of its class."""
    address = next(
        (
            lb[0]
            for s in state.of_kind("Service")
            if (s.get("spec") or {}).get("type") == "LoadBalancer" and "ingress-nginx" in name_of(s)
            for lb in [((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]
            if lb
        ),
        None,
    )
    if address is None:
        return
    for ing in state.of_kind("Ingress", group="networking.k8s.io"):
        annotations = ing["metadata"].get("annotations") or {}
        cls = (ing.get("spec") or {}).get("ingressClassName") or annotations.get(
            "kubernetes.io/ingress.class"
        )
        if cls not in ("nginx", None):
            continue
        ing.setdefault("status", {})["loadBalancer"] = {"ingress": [{"ip": address["ip"]}]}


# issuers -----------------------------------------------------------------------------------
def _issuers(state: State) -> list[Obj]:
    return [
        *state.of_kind("ClusterIssuer", group=CM_GROUP),
        *state.of_kind("Issuer", group=CM_GROUP),
    ]


def sync_issuers(state: State) -> None:
    now = state.world.now
    for issuer in _issuers(state):
        spec = issuer.get("spec") or {}
        status = issuer.setdefault("status", {})
        conditions: list[Obj] = status.setdefault("conditions", [])
        gen = int(issuer["metadata"].get("generation", 1))
        cond: Obj
        secret_ns = (
            CLUSTER_RESOURCE_NAMESPACE if issuer["kind"] == "ClusterIssuer" else ns_of(issuer)
        )
        if "acme" in spec:
            acme = spec["acme"] or {}
            key_name = (acme.get("privateKeySecretRef") or {}).get("name")
            if key_name and state.find("Secret", secret_ns, str(key_name)) is None:
                state.create(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": key_name, "namespace": secret_ns},
                        "type": "Opaque",
                        "data": {"tls.key": _b64(_pem("PRIVATE KEY", str(key_name)))},
                    }
                )
            account = int(hashlib.sha256(name_of(issuer).encode()).hexdigest()[:9], 16)
            server = str(acme.get("server", "https://acme-v02.api.letsencrypt.org/directory"))
            status["acme"] = {
                "lastPrivateKeyHash": base64.b64encode(
                    hashlib.sha256(str(key_name).encode()).digest()
                ).decode(),
                "lastRegisteredEmail": acme.get("email", ""),
                "uri": server.rsplit("/", 1)[0] + f"/acme/acct/{account}",
            }
            cond = {
                "type": "Ready",
                "status": "True",
                "reason": "ACMEAccountRegistered",
                "message": "The ACME account was registered with the ACME server",
            }
        elif "ca" in spec:
            secret = str((spec["ca"] or {}).get("secretName"))
            if state.find("Secret", secret_ns, secret) is None:
                cond = {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ErrGetKeyPair",
                    "message": f'Error getting keypair for CA issuer: secrets "{secret}" not found',
                }
            else:
                cond = {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KeyPairVerified",
                    "message": "Signing CA verified",
                }
        else:
            cond = {"type": "Ready", "status": "True", "reason": "IsReady", "message": ""}
        cond["observedGeneration"] = gen
        set_condition(conditions, cond, now)


def _find_issuer(state: State, ref: Obj, namespace: str) -> Obj | None:
    kind = ref.get("kind") or "Issuer"
    return state.find(
        str(kind),
        "" if kind == "ClusterIssuer" else namespace,
        str(ref.get("name")),
        group=CM_GROUP,
    )


# ingress-shim ------------------------------------------------------------------------------
def sync_ingress_shim(state: State) -> None:
    """A Certificate per tls entry of an Ingress annotated with an issuer, owned by it."""
    if not crd_installed(state, CM_GROUP, "Certificate"):
        return
    for ing in state.of_kind("Ingress", group="networking.k8s.io"):
        annotations = ing["metadata"].get("annotations") or {}
        if annotations.get("cert-manager.io/cluster-issuer"):
            ref = {
                "name": annotations["cert-manager.io/cluster-issuer"],
                "kind": "ClusterIssuer",
                "group": CM_GROUP,
            }
        elif annotations.get("cert-manager.io/issuer"):
            ref = {
                "name": annotations["cert-manager.io/issuer"],
                "kind": "Issuer",
                "group": CM_GROUP,
            }
        else:
            continue
        ns = ns_of(ing)
        for i, tls in enumerate((ing.get("spec") or {}).get("tls") or []):
            hosts = list(tls.get("hosts") or [])
            secret = tls.get("secretName")
            if not secret:
                state.event(
                    ing,
                    "Warning",
                    "BadConfig",
                    f"TLS entry {i} for hosts {hosts} must specify a secretName",
                    CERT_MANAGER,
                )
                continue
            spec = {
                "dnsNames": hosts,
                "issuerRef": ref,
                "secretName": secret,
                "usages": ["digital signature", "key encipherment"],
            }
            cert = state.find("Certificate", ns, str(secret), group=CM_GROUP)
            if cert is None:
                state.create(
                    {
                        "apiVersion": "cert-manager.io/v1",
                        "kind": "Certificate",
                        "metadata": {
                            "name": secret,
                            "namespace": ns,
                            "ownerReferences": [controller_ref(ing)],
                        },
                        "spec": spec,
                    }
                )
                state.event(
                    ing,
                    "Normal",
                    "CreateCertificate",
                    f'Successfully created Certificate "{secret}"',
                    CERT_MANAGER,
                )
            elif (
                any(r.get("uid") == ing["metadata"].get("uid") for r in owner_refs(cert))
                and cert.get("spec") != spec
            ):
                cert["spec"] = spec
                cert["metadata"]["generation"] = int(cert["metadata"].get("generation", 1)) + 1
                state.event(
                    ing,
                    "Normal",
                    "UpdateCertificate",
                    f'Successfully updated Certificate "{secret}"',
                    CERT_MANAGER,
                )


# certificates ------------------------------------------------------------------------------
def sync_certificates(state: State) -> None:
    for cert in state.of_kind("Certificate", group=CM_GROUP):
        _Certificate(state, cert).sync()


class _Certificate:
    def __init__(self, state: State, cert: Obj) -> None:
        self.state = state
        self.cert = cert
        self.now = state.world.now
        self.ns = ns_of(cert)
        self.name = name_of(cert)
        self.spec: Obj = cert.get("spec") or {}
        self.status: Obj = cert.setdefault("status", {})
        self.conditions: list[Obj] = self.status.setdefault("conditions", [])
        self.gen = int(cert["metadata"].get("generation", 1))

    def condition(self, type_: str, status: str, reason: str, message: str) -> None:
        set_condition(
            self.conditions,
            {
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message,
                "observedGeneration": self.gen,
            },
            self.now,
        )

    def up_to_date(self) -> Obj | None:
        secret = self.state.find("Secret", self.ns, str(self.spec.get("secretName")))
        if secret is None:
            return None
        ann = secret["metadata"].get("annotations") or {}
        names = ",".join(self.spec.get("dnsNames") or [])
        issuer = (self.spec.get("issuerRef") or {}).get("name")
        if (
            ann.get("cert-manager.io/alt-names") != names
            or ann.get("cert-manager.io/issuer-name") != issuer
        ):
            return None
        return secret

    def sync(self) -> None:
        if self.up_to_date() is not None:
            self.conditions[:] = [c for c in self.conditions if c.get("type") != "Issuing"]
            self.condition(
                "Ready", "True", "Ready", "Certificate is up to date and has not expired"
            )
            return
        issuing = get_condition(self.cert, "Issuing")
        revision = int(self.status.get("revision", 0)) + 1
        if issuing is None or issuing.get("status") != "True":
            self.start_issuing(revision)
            return
        request = self.state.find(
            "CertificateRequest", self.ns, f"{self.name}-{revision}", group=CM_GROUP
        )
        if request is None:
            self.start_issuing(revision)
            return
        self.sign(request, revision)

    def start_issuing(self, revision: int) -> None:
        secret_exists = (
            self.state.find("Secret", self.ns, str(self.spec.get("secretName"))) is not None
        )
        if secret_exists:
            reason, message = (
                "SecretMismatch",
                "Issuing certificate as Secret does not match the Certificate spec",
            )
        else:
            reason, message = "DoesNotExist", "Issuing certificate as Secret does not exist"
        self.condition("Issuing", "True", reason, message)
        if not secret_exists or get_condition(self.cert, "Ready") is None:
            self.condition("Ready", "False", reason, message)
        key_secret = self.state.unique_name(f"{self.name}-", "Secret", self.ns)
        self.status["nextPrivateKeySecretName"] = key_secret
        self.state.event(self.cert, "Normal", "Issuing", message, CERT_MANAGER)
        self.state.event(
            self.cert,
            "Normal",
            "Generated",
            f'Stored new private key in temporary Secret resource "{key_secret}"',
            CERT_MANAGER,
        )
        name = f"{self.name}-{revision}"
        if not crd_installed(self.state, CM_GROUP, "CertificateRequest"):
            return
        if self.state.find("CertificateRequest", self.ns, name, group=CM_GROUP) is None:
            csr = _pem("CERTIFICATE REQUEST", f"{self.ns}/{self.name}/{revision}")
            self.state.create(
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "CertificateRequest",
                    "metadata": {
                        "name": name,
                        "namespace": self.ns,
                        "annotations": {
                            "cert-manager.io/certificate-name": self.name,
                            "cert-manager.io/certificate-revision": str(revision),
                            "cert-manager.io/private-key-secret-name": key_secret,
                        },
                        "ownerReferences": [controller_ref(self.cert)],
                    },
                    "spec": {
                        "issuerRef": self.spec.get("issuerRef") or {},
                        "request": _b64(csr),
                        "usages": self.spec.get("usages")
                        or ["digital signature", "key encipherment"],
                    },
                }
            )
            self.state.event(
                self.cert,
                "Normal",
                "Requested",
                f'Created new CertificateRequest resource "{name}"',
                CERT_MANAGER,
            )

    def sign(self, request: Obj, revision: int) -> None:
        now = self.now
        status = request.setdefault("status", {})
        conds: list[Obj] = status.setdefault("conditions", [])
        set_condition(
            conds,
            {
                "type": "Approved",
                "status": "True",
                "reason": "cert-manager.io",
                "message": "Certificate request has been approved by cert-manager.io",
            },
            now,
        )
        ref = self.spec.get("issuerRef") or {}
        kind = str(ref.get("kind") or "Issuer")
        issuer = _find_issuer(self.state, ref, self.ns)
        if issuer is None:
            message = f'Referenced "{kind}" not found: {kind.lower()}.cert-manager.io "{ref.get("name")}" not found'
            set_condition(
                conds,
                {"type": "Ready", "status": "False", "reason": "Pending", "message": message},
                now,
            )
            self.state.event(request, "Normal", "IssuerNotFound", message, CERT_MANAGER)
            return
        if not condition_true(issuer, "Ready"):
            message = "Referenced issuer does not have a Ready status condition"
            set_condition(
                conds,
                {"type": "Ready", "status": "False", "reason": "Pending", "message": message},
                now,
            )
            self.state.event(request, "Normal", "IssuerNotReady", message, CERT_MANAGER)
            return
        names = list(self.spec.get("dnsNames") or [])
        crt, key = _certificate(names or [self.name], str(ref.get("name")), now)
        status["certificate"] = _b64(crt)
        set_condition(
            conds,
            {
                "type": "Ready",
                "status": "True",
                "reason": "Issued",
                "message": "Certificate fetched from issuer successfully",
            },
            now,
        )
        secret_name = str(self.spec.get("secretName"))
        secret = self.state.find("Secret", self.ns, secret_name)
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name,
                "namespace": self.ns,
                "labels": {"controller.cert-manager.io/fao": "true"},
                "annotations": {
                    "cert-manager.io/alt-names": ",".join(names),
                    "cert-manager.io/certificate-name": self.name,
                    "cert-manager.io/common-name": names[0] if names else "",
                    "cert-manager.io/ip-sans": "",
                    "cert-manager.io/issuer-group": str(ref.get("group") or CM_GROUP),
                    "cert-manager.io/issuer-kind": kind,
                    "cert-manager.io/issuer-name": str(ref.get("name")),
                    "cert-manager.io/uri-sans": "",
                },
            },
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": _b64(crt), "tls.key": _b64(key)},
        }
        if secret is None:
            self.state.create(body)
        else:
            secret["metadata"].update(
                {k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")}
            )
            secret["data"] = body["data"]
            secret["type"] = body["type"]
        self.status.pop("nextPrivateKeySecretName", None)
        self.status.update(
            {
                "notBefore": stamp(now),
                "notAfter": stamp(now + timedelta(days=90)),
                "renewalTime": stamp(now + timedelta(days=60)),
                "revision": revision,
            }
        )
        self.conditions[:] = [c for c in self.conditions if c.get("type") != "Issuing"]
        self.condition("Ready", "True", "Ready", "Certificate is up to date and has not expired")
        self.state.event(
            self.cert,
            "Normal",
            "Issuing",
            "The certificate has been successfully issued",
            CERT_MANAGER,
        )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _pem(label: str, seed: str) -> str:
    body = base64.b64encode(hashlib.sha512(seed.encode()).digest() * 4).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def _certificate(names: list[str], issuer: str, now: datetime) -> tuple[str, str]:
    """A real self-signed certificate for `names` (so clients can parse its dates), or PEM
    placeholders where the cryptography package is not installed."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        return _pem("CERTIFICATE", ",".join(names)), _pem("PRIVATE KEY", ",".join(names))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer} (fake)")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    crt = cert.public_bytes(serialization.Encoding.PEM).decode()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return crt, pem_key
