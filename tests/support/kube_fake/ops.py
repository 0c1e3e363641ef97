"""The API verbs over the store, with the server's write pipeline: decode and check the body,
field validation, status kept apart from the main resource (and the reverse on /status),
defaults, admission, managedFields, then the store's optimistic-concurrency write. The HTTP
layer and the test facade both go through here, so a test's `cluster.apply` is a real write."""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from . import errors, patching, schemas
from .defaults import apply_defaults
from .discovery import ResourceType
from .errors import ApiError
from .selectors import field_selector, label_selector, selector_string
from .store import Obj, Store, clone, meta
from .validation import validate

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
#: kinds whose DELETE answers the object itself; the others answer a Status
RETURNS_OBJECT = {("", "Pod"), ("", "Service"), ("", "Namespace"), ("", "Node")}
NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
#: kinds whose names must be DNS labels (63 characters, no dots)
LABEL_NAMED = {("", "Namespace"), ("", "Service")}

Admission = Callable[[Obj, list[Obj]], "tuple[int, str] | None"]


@dataclass(frozen=True)
class WriteOptions:
    """What the query string says about a write."""

    dry_run: bool = False
    manager: str = ""
    directive: str = "Warn"
    force: bool = False
    #: whether the request named its field manager (server-side apply requires it)
    named: bool = True

    @classmethod
    def from_query(cls, query: Mapping[str, str], user_agent: str = "") -> WriteOptions:
        manager = query.get("fieldManager", "")
        default_manager = user_agent.split("/", 1)[0] if user_agent else "unknown"
        return cls(
            dry_run=query.get("dryRun", "") == "All",
            manager=manager or default_manager,
            directive=query.get("fieldValidation", "") or "Warn",
            force=query.get("force", "").lower() == "true",
            named=bool(manager),
        )


def _random_suffix() -> str:
    return "".join(random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


def _get_path(obj: Obj, path: str) -> Any:
    node: Any = obj
    for part in path.strip(".").split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _set_path(obj: Obj, path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _keep_allocated(old: Obj, new: Obj) -> None:
    """An update that leaves out a Service's clusterIP or nodePorts keeps the allocated ones."""
    before, after = old.get("spec") or {}, new.setdefault("spec", {})
    for field in ("clusterIP", "clusterIPs"):
        if field not in after and field in before:
            after[field] = clone(before[field])
    allocated = {
        (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
        for p in before.get("ports") or []
    }
    for port in after.get("ports") or []:
        node_port = allocated.get((port.get("port"), port.get("protocol", "TCP")))
        if (
            node_port
            and "nodePort" not in port
            and after.get("type") in ("NodePort", "LoadBalancer")
        ):
            port["nodePort"] = node_port


class Api:
    def __init__(self, store: Store, admission: Callable[[], Admission | None]) -> None:
        self.store = store
        self._admission = admission

    # --- reads ------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str, subresource: str = "") -> Obj:
        with self.store.lock:
            obj = self.store.read(rt, namespace, name)
            return self._scale_of(rt, obj) if subresource == "scale" else obj

    def collection(self, rt: ResourceType, namespace: str | None, query: Mapping[str, str]) -> Obj:
        matches_labels = label_selector(query.get("labelSelector"))
        matches_fields = field_selector(query.get("fieldSelector"), rt.kind)
        with self.store.lock:
            rv = self.store.resource_version
            found = [
                o
                for o in self.store.items(rt, namespace)
                if matches_labels(o) and matches_fields(o)
            ]
            items = [self._list_item(rt, o) for o in found]
        start, rv = self._continue_from(query.get("continue", ""), rv)
        keys = [(str(meta(o).get("namespace", "")), str(meta(o)["name"])) for o in found]
        if start is not None:
            items = [item for item, key in zip(items, keys, strict=True) if key > start]
            keys = [key for key in keys if key > start]
        list_meta: dict[str, Any] = {"resourceVersion": rv}
        raw_limit = query.get("limit", "") or "0"
        if not raw_limit.isdigit():
            raise errors.bad_request(f"invalid limit: {raw_limit!r}")
        limit = int(raw_limit)
        if limit and len(items) > limit:
            ns, name = keys[limit - 1]
            last = f"{ns}/{name}" if rt.namespaced else name
            token = {"v": "meta.k8s.io/v1", "rv": int(rv), "start": last + "\x00"}
            list_meta["continue"] = (
                base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode())
                .decode()
                .rstrip("=")
            )
            if not query.get("labelSelector") and not query.get("fieldSelector"):
                list_meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": list_meta,
            "items": items,
        }

    def _list_item(self, rt: ResourceType, obj: Obj) -> Obj:
        item = self.store.present(rt, obj)
        if not rt.crd:  # built-in list items carry no apiVersion/kind on the wire
            item.pop("apiVersion", None)
            item.pop("kind", None)
        return item

    @staticmethod
    def _continue_from(token: str, rv: str) -> tuple[tuple[str, str] | None, str]:
        """Where a continue token resumes (namespace, name) and the list's resourceVersion."""
        if not token:
            return None, rv
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"=="))
            start = str(decoded["start"]).rstrip("\x00")
            ns, _, name = start.rpartition("/")
            return (ns, name), str(decoded["rv"])
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion "
                "(version meta.k8s.io/v1)"
            ) from None

    # --- writes -----------------------------------------------------------------------------

    def _body_object(self, rt: ResourceType, body: Any, *, apply: bool = False) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the body of the request was in an unknown format: expected a {rt.kind} object"
            )
        obj = clone(body)
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if apply and (not api_version or not kind):
            raise errors.bad_request(
                f"error decoding YAML: Object 'Kind' is missing in '{json.dumps(body)[:200]}'"
            )
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f"the kind of the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        if api_version and api_version != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
            )
        if not isinstance(obj.get("metadata", {}), dict):
            raise errors.bad_request("metadata: expected an object")
        meta(obj)
        return obj

    def _place(self, rt: ResourceType, obj: Obj, namespace: str, name: str | None) -> None:
        """Check the body's name and namespace against the URL's and fill them in."""
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        m = meta(obj)
        if name is not None:
            if m.get("name") and m["name"] != name:
                raise errors.bad_request(
                    f"the name of the object ({m['name']}) does not match the name on the URL "
                    f"({name})"
                )
            m["name"] = name
        if rt.namespaced:
            if m.get("namespace") and m["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            m["namespace"] = namespace
        else:
            m.pop("namespace", None)

    def _check_name(self, rt: ResourceType, obj: Obj) -> None:
        m = meta(obj)
        if not m.get("name"):
            if m.get("generateName"):
                m["name"] = f"{m['generateName']}{_random_suffix()}"
            else:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        (
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                            "metadata.name",
                        )
                    ],
                )
        name = str(m["name"])
        if rt.crd or rt.group == "rbac.authorization.k8s.io":  # path segment names only
            if name in (".", "..") or "/" in name or "%" in name:
                message = f"Invalid value: \"{name}\": may not contain '/' or '%'"
                raise errors.invalid(
                    rt.kind, rt.group, name, [("FieldValueInvalid", message, "metadata.name")]
                )
            return
        label = (rt.group, rt.kind) in LABEL_NAMED
        pattern, limit = (LABEL_NAME_RE, 63) if label else (NAME_RE, 253)
        if len(name) > limit or not pattern.fullmatch(name):
            what = "RFC 1123 label" if label else "RFC 1123 subdomain"
            message = (
                f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character"
            )
            raise errors.invalid(
                rt.kind, rt.group, name, [("FieldValueInvalid", message, "metadata.name")]
            )

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Any,
        options: WriteOptions,
        warnings: list[str],
    ) -> Obj:
        obj = self._body_object(rt, body)
        self._place(rt, obj, namespace, None)
        self._check_name(rt, obj)
        validate(rt, obj, directive=options.directive, apply=False, warnings=warnings)
        with self.store.lock:
            return self._store_new(rt, obj, options, "Update", clone(obj))

    def _store_new(
        self, rt: ResourceType, obj: Obj, options: WriteOptions, operation: str, fields: Obj
    ) -> Obj:
        if rt.has_status:
            obj.pop("status", None)
        m = meta(obj)
        m.pop("managedFields", None)
        m.pop("resourceVersion", None)
        apply_defaults(rt, obj, creating=True, allocate=self.store.allocate)
        self._controller_status(rt, obj)
        self._admit(obj)
        self._record_manager(rt, obj, options.manager, operation, fields)
        created = self.store.create(rt, obj, dry_run=options.dry_run)
        if (rt.group, rt.kind) == ("", "Namespace") and not options.dry_run:
            self._populate_namespace(str(m["name"]))
        return created

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        options: WriteOptions,
        warnings: list[str],
        subresource: str = "",
    ) -> Obj:
        if subresource == "scale":
            return self._update_scale(rt, namespace, name, body, options)
        obj = self._body_object(rt, body)
        self._place(rt, obj, namespace, name)
        validate(rt, obj, directive=options.directive, apply=False, warnings=warnings)
        with self.store.lock:
            old = self.store.get(rt, namespace, name)
            if old is None:
                raise errors.not_found(rt.plural, rt.group, name)
            return self._store_update(rt, old, obj, options, "Update", clone(obj), subresource)

    def _store_update(
        self,
        rt: ResourceType,
        old: Obj,
        new: Obj,
        options: WriteOptions,
        operation: str,
        fields: Obj,
        subresource: str,
    ) -> Obj:
        if subresource == "status":
            status = new.get("status")
            sent_rv = meta(new).get("resourceVersion")
            new = clone(old)
            new["status"] = status
            meta(new)["resourceVersion"] = sent_rv
            fields = {"status": status or {}}
        elif rt.has_status:
            if "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        if (rt.group, rt.kind) == ("", "Service"):
            _keep_allocated(old, new)
        apply_defaults(rt, new, creating=False, allocate=self.store.allocate)
        self._controller_status(rt, new)
        self._admit(new)
        self._record_manager(rt, new, options.manager, operation, fields, subresource)
        return self.store.replace(rt, new, dry_run=options.dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        content_type: str,
        options: WriteOptions,
        warnings: list[str],
        subresource: str = "",
    ) -> Obj:
        kind = content_type.split(";", maxsplit=1)[0].strip().lower()
        accepted = [JSON_PATCH, MERGE, APPLY] + ([] if rt.crd else [STRATEGIC])
        if kind not in accepted:
            raise errors.unsupported_media_type(accepted)
        if kind == APPLY:
            return self.apply(rt, namespace, name, raw, options, warnings, subresource)
        try:
            patch = json.loads(raw or b"null")
        except ValueError as exc:
            raise errors.bad_request(f"error decoding patch: {exc}") from None
        with self.store.lock:
            old = self.store.get(rt, namespace, name)
            if old is None:
                raise errors.not_found(rt.plural, rt.group, name)
            current = self.store.present(rt, old)
            if subresource == "scale":
                scale = self._scale_of(rt, current)
                scale_schema = {"$ref": schemas.REF_PREFIX + "io.k8s.api.autoscaling.v1.Scale"}
                patched_scale = self._patched(kind, scale, patch, scale_schema)
                return self._update_scale(rt, namespace, name, patched_scale, options)
            patched = self._patched(kind, current, patch, schemas.root_schema(rt) or schemas.ANY)
            patched = self._body_object(rt, patched)
            self._place(rt, patched, namespace, name)
            validate(rt, patched, directive=options.directive, apply=False, warnings=warnings)
            fields = patch if isinstance(patch, dict) else patched
            return self._store_update(rt, old, patched, options, "Update", fields, subresource)

    @staticmethod
    def _patched(kind: str, current: Obj, patch: Any, schema: Mapping[str, Any]) -> Any:
        try:
            if kind == JSON_PATCH:
                return patching.json_patch(current, patch)
            if not isinstance(patch, dict):
                raise errors.bad_request("the patch is not a JSON object")
            if kind == MERGE:
                return patching.merge_patch(current, patch)
            return patching.strategic_merge(current, patch, schema) or {}
        except patching.PatchError as exc:
            raise ApiError(422, str(exc)) from None

    def apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        raw: bytes,
        options: WriteOptions,
        warnings: list[str],
        subresource: str = "",
    ) -> Obj:
        """Server-side apply: create the object, or merge the applied configuration into it."""
        if not options.named:
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    (
                        "FieldValueRequired",
                        "Required value: is required for apply patch",
                        "fieldManager",
                    )
                ],
            )
        try:
            body = yaml.load(raw.decode() or "null", Loader=yaml.CSafeLoader)
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"error decoding YAML: {exc}") from None
        applied = self._body_object(rt, body, apply=True)
        self._place(rt, applied, namespace, name)
        validate(rt, applied, directive=options.directive, apply=True, warnings=warnings)
        m = meta(applied)
        sent_rv = m.pop("resourceVersion", None)
        m.pop("managedFields", None)
        if rt.has_status and subresource != "status":
            applied.pop("status", None)
        key = (*rt.key, namespace if rt.namespaced else "", name, options.manager)
        with self.store.lock:
            live = self.store.get(rt, namespace, name)
            if live is None:
                if subresource:
                    raise errors.not_found(rt.plural, rt.group, name)
                self._check_name(rt, applied)
                result = self._store_new(rt, clone(applied), options, "Apply", applied)
            else:
                if sent_rv and sent_rv != meta(live).get("resourceVersion"):
                    raise errors.conflict(rt.plural, rt.group, name)
                schema = schemas.root_schema(rt) or schemas.ANY
                merged = patching.server_side_apply(
                    self.store.present(rt, live), applied, self.store.applied.get(key), schema
                )
                meta(merged)["resourceVersion"] = meta(live).get("resourceVersion")
                result = self._store_update(
                    rt, live, merged, options, "Apply", applied, subresource
                )
            if not options.dry_run:
                self.store.applied[key] = applied
            return result

    def delete(
        self, rt: ResourceType, namespace: str, name: str, body: Any, query: Mapping[str, str]
    ) -> Obj:
        opts = body if isinstance(body, dict) else {}
        propagation = str(
            opts.get("propagationPolicy") or query.get("propagationPolicy") or "Background"
        )
        dry_run = "All" in (opts.get("dryRun") or []) or query.get("dryRun") == "All"
        with self.store.lock:
            found = self.store.get(rt, namespace, name)
            if found is None:
                raise errors.not_found(rt.plural, rt.group, name)
            pre = opts.get("preconditions") or {}
            m = meta(found)
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if pre.get(field) and pre[field] != m.get(field):
                    raise ApiError(
                        409,
                        f"Precondition failed: {label} in precondition: {pre[field]}, {label} in "
                        f"object meta: {m.get(field)}",
                        reason="Conflict",
                        details={"name": name, "group": rt.group, "kind": rt.plural},
                    )
            gone = self.store.delete(rt, namespace, name, propagation=propagation, dry_run=dry_run)
        if (rt.group, rt.kind) in RETURNS_OBJECT or meta(gone).get("deletionTimestamp"):
            return gone
        details: dict[str, Any] = {"name": name}
        if rt.group:
            details["group"] = rt.group
        details.update(kind=rt.plural, uid=meta(gone).get("uid"))
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    # --- /scale -----------------------------------------------------------------------------

    def _scale_of(self, rt: ResourceType, obj: Obj) -> Obj:
        paths = rt.scale
        if paths is None:
            raise errors.not_found(rt.plural, rt.group, str(meta(obj).get("name")))
        m = meta(obj)
        selector: Any = None
        if not rt.crd:
            selector = selector_string((obj.get("spec") or {}).get("selector"))
        elif paths.label_selector:
            selector = _get_path(obj, paths.label_selector)
        status: dict[str, Any] = {"replicas": int(_get_path(obj, paths.status_replicas) or 0)}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: m[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in m
            },
            "spec": {"replicas": int(_get_path(obj, paths.spec_replicas) or 0)},
            "status": status,
        }

    def _update_scale(
        self, rt: ResourceType, namespace: str, name: str, body: Any, options: WriteOptions
    ) -> Obj:
        if not isinstance(body, dict) or body.get("kind", "Scale") != "Scale":
            raise errors.bad_request("expected a Scale object (autoscaling/v1)")
        replicas = (body.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    (
                        "FieldValueInvalid",
                        f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                        "spec.replicas",
                    )
                ],
            )
        with self.store.lock:
            old = self.store.get(rt, namespace, name)
            if old is None or rt.scale is None:
                raise errors.not_found(rt.plural, rt.group, name)
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != meta(old).get("resourceVersion"):
                raise errors.conflict(rt.plural, rt.group, name)
            new = self.store.present(rt, old)
            _set_path(new, rt.scale.spec_replicas, replicas)
            fields = {"spec": {"replicas": replicas}}
            result = self._store_update(rt, old, new, options, "Update", fields, "scale")
            return self._scale_of(rt, result)

    # --- side effects of writes -------------------------------------------------------------

    def _admit(self, obj: Obj) -> None:
        check = self._admission()
        if check is None:
            return
        everything = [self.store.present(rt, o) for rt, o in self.store.everything()]
        answer = check(clone(obj), everything)
        if answer is not None:
            code, message = answer
            raise ApiError(code, message)

    def _record_manager(
        self,
        rt: ResourceType,
        obj: Obj,
        manager: str,
        operation: str,
        fields: Obj,
        subresource: str = "",
    ) -> None:
        """Keep one managedFields entry per manager and operation, as the server does."""
        schema = schemas.root_schema(rt) or schemas.ANY
        if subresource == "scale":
            schema = schemas.ANY
        m = meta(obj)
        kept = [
            e
            for e in m.get("managedFields") or []
            if (e.get("manager"), e.get("operation"), e.get("subresource", ""))
            != (manager, operation, subresource)
        ]
        entry: dict[str, Any] = {
            "manager": manager,
            "operation": operation,
            "apiVersion": rt.api_version,
            "time": self.store.now(),
            "fieldsType": "FieldsV1",
            "fieldsV1": patching.fields_v1(
                {k: v for k, v in fields.items() if k != "status" or subresource == "status"},
                schema,
            ),
        }
        if subresource:
            entry["subresource"] = subresource
        m["managedFields"] = [*kept, entry]

    def _controller_status(self, rt: ResourceType, obj: Obj) -> None:
        """What apiextensions' own controller says about a CRD at once: names accepted,
        established (Helm waits for Established before it installs custom resources)."""
        if (rt.group, rt.kind) != ("apiextensions.k8s.io", "CustomResourceDefinition"):
            return
        spec = obj.get("spec") or {}
        storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        status = obj.setdefault("status", {})
        status["acceptedNames"] = clone(spec.get("names") or {})
        status["storedVersions"] = sorted(set(status.get("storedVersions") or []) | set(storage))
        since = {c.get("type"): c.get("lastTransitionTime") for c in status.get("conditions") or []}
        status["conditions"] = [
            {
                "type": kind,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": since.get(kind) or self.store.now(),
            }
            for kind, reason, message in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ]

    def _populate_namespace(self, namespace: str) -> None:
        """What the service-account and root-CA controllers put in every new namespace."""
        registry = self.store.registry
        sa = registry.by_kind("v1", "ServiceAccount")
        cm = registry.by_kind("v1", "ConfigMap")
        assert sa is not None and cm is not None
        ca = "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n"
        for rt, obj in (
            (sa, {"metadata": {"name": "default", "namespace": namespace}}),
            (
                cm,
                {
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "namespace": namespace,
                        "annotations": {
                            "kubernetes.io/description": "Contains a CA bundle that can be used "
                            "to verify the kube-apiserver when using internal endpoints such as "
                            "the internal service IP or kubernetes.default.svc. No other usage is "
                            "guaranteed across distributions of Kubernetes clusters."
                        },
                    },
                    "data": {"ca.crt": ca},
                },
            ),
        ):
            if self.store.get(rt, namespace, str(meta(obj)["name"])) is None:
                self.store.create(rt, obj)

    # --- controller writes ------------------------------------------------------------------

    def controller_upsert(self, obj: Obj, seen_rv: str | None = "") -> None:
        """A controller's write: status included, no admission, no field validation.
        `seen_rv` is the resourceVersion the controller read (None: it saw no such object;
        "": write unconditionally); a mismatch is a 409 Conflict."""
        rt = self.store.registry.by_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if rt is None:
            raise ValueError(f"no resource serves {obj.get('apiVersion')} {obj.get('kind')}")
        obj = clone(obj)
        m = meta(obj)
        namespace = str(m.get("namespace", "")) if rt.namespaced else ""
        name = str(m["name"])
        with self.store.lock:
            old = self.store.get(rt, namespace, name)
            current = None if old is None else str(meta(old).get("resourceVersion", ""))
            if seen_rv is None and old is not None:
                raise errors.already_exists(rt.plural, rt.group, name)
            if seen_rv and current != seen_rv:
                raise errors.conflict(rt.plural, rt.group, name)
            apply_defaults(rt, obj, creating=old is None, allocate=self.store.allocate)
            if old is None:
                self.store.create(rt, obj, keep_uid=True)
            else:
                m["resourceVersion"] = current
                self.store.replace(rt, obj)

    def controller_delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        rt = self.store.registry.by_kind(api_version, kind)
        if rt is None:
            return
        with self.store.lock:
            if self.store.get(rt, namespace, name) is not None:
                self.store.delete(rt, namespace, name)
