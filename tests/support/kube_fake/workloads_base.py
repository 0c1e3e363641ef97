"""What every fake controller shares: the simulated world, the working set one tick edits, and
the small rules the real controllers apply everywhere (conditions that keep their transition
time, deduplicated Events, owner references, pod readiness and availability, label selectors,
resource quantities, the pod-template hash).
"""

from __future__ import annotations

import functools
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from .images import ImageBook

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" when cluster-scoped), name

#: simulated seconds per controller tick
TICK_SECONDS = 5
#: the alphabet of generateName suffixes and of hashes in names (k8s utilrand)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass
class World:
    """What a tick knows besides the objects: the simulated clock, the images, and the random
    source of uids and generated names (seed it for reproducible runs)."""

    now: datetime
    tick_seconds: int = TICK_SECONDS
    images: ImageBook = field(default_factory=ImageBook)
    rng: random.Random = field(default_factory=random.Random)

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_name(self, prefix: str) -> str:
        """`prefix` plus 5 random characters, as the API server does for generateName."""
        return prefix + "".join(self.rng.choice(NAME_ALPHABET) for _ in range(5))


@dataclass
class Changes:
    """What one tick changed: full objects to create or replace (uid and creationTimestamp set
    on new ones, resourceVersion left to the server), and the DELETEs the controllers sent.
    The server deletes a bound Pod (spec.nodeName set, no deletionTimestamp yet) gracefully, as
    the API server does: it sets metadata.deletionTimestamp (now + the pod's
    terminationGracePeriodSeconds, default 30) and deletionGracePeriodSeconds and keeps it; the
    kubelet's second DELETE on the next tick removes it. Anything else goes at once."""

    upserts: list[Obj] = field(default_factory=list)
    deletes: list[Key] = field(default_factory=list)


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _dump(obj: Obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)


class State:
    """The objects as this tick's controllers leave them. Controllers edit objects in place
    (or `create` new ones); `changes()` diffs against the snapshot the tick started from."""

    def __init__(self, objects: Iterable[Obj], world: World) -> None:
        self.world = world
        self._objs: dict[Key, Obj] = {}
        self._orig: dict[Key, bytes] = {}
        self._kinds: dict[str, dict[Key, Obj]] = {}
        for obj in objects:
            key = key_of(obj)
            self._add(key, obj)
            self._orig[key] = _dump(obj)
        self._events: dict[tuple[str, ...], Obj] | None = None

    def _add(self, key: Key, obj: Obj) -> None:
        self._objs[key] = obj
        self._kinds.setdefault(key[1], {})[key] = obj

    # reading -------------------------------------------------------------------------------
    def all(self) -> Iterator[Obj]:
        return iter(list(self._objs.values()))

    def of_kind(
        self, kind: str, namespace: str | None = None, group: str | None = None
    ) -> list[Obj]:
        return [
            obj
            for (api_version, _, ns, _), obj in self._kinds.get(kind, {}).items()
            if (namespace is None or ns == namespace)
            and (group is None or group_of(api_version) == group)
        ]

    def find(self, kind: str, namespace: str, name: str, group: str | None = None) -> Obj | None:
        """By kind and name whatever the stored version (autoscaling/v1 vs v2, say)."""
        for (api_version, _, ns, n), obj in self._kinds.get(kind, {}).items():
            if (ns, n) == (namespace, name) and (group is None or group_of(api_version) == group):
                return obj
        return None

    def uids(self) -> set[str]:
        return {str(o.get("metadata", {}).get("uid")) for o in self._objs.values()}

    def owned_by(self, owner: Obj, kind: str) -> list[Obj]:
        """Objects of `kind` whose controller reference is `owner` (what the controllers'
        claim step keeps), oldest first."""
        uid = owner["metadata"].get("uid")
        ns = owner["metadata"].get("namespace") or ""
        found = [
            o
            for o in self.of_kind(kind, ns)
            if any(r.get("uid") == uid and r.get("controller") for r in owner_refs(o))
        ]
        return sorted(found, key=lambda o: (o["metadata"].get("creationTimestamp", ""), name_of(o)))

    # writing -------------------------------------------------------------------------------
    def create(self, obj: Obj) -> Obj:
        """A new object with the metadata the API server would give it (uid, timestamp,
        generation); resourceVersion is the server's to assign."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", self.world.new_uid())
        meta.setdefault("creationTimestamp", stamp(self.world.now))
        if obj.get("kind") not in ("Pod", "Event", "Secret", "ConfigMap", "ControllerRevision"):
            meta.setdefault("generation", 1)
        self._add(key_of(obj), obj)
        return obj

    def remove(self, obj: Obj) -> None:
        key = key_of(obj)
        self._objs.pop(key, None)
        self._kinds.get(key[1], {}).pop(key, None)

    def unique_name(self, prefix: str, kind: str, namespace: str) -> str:
        while True:
            name = self.world.new_name(prefix)
            if self.find(kind, namespace, name) is None:
                return name

    def changes(self) -> Changes:
        out = Changes()
        for key, obj in self._objs.items():
            if self._orig.get(key) != _dump(obj):
                out.upserts.append(obj)
        out.deletes = [key for key in self._orig if key not in self._objs]
        return out

    # events --------------------------------------------------------------------------------
    def event(
        self,
        involved: Obj,
        type_: str,
        reason: str,
        message: str,
        component: str,
        host: str | None = None,
        field_path: str | None = None,
    ) -> Obj:
        """Record a v1 Event, or bump the count of the same one (the event correlator)."""
        if self._events is None:
            self._events = {}
            for ev in self.of_kind("Event"):
                self._events[_event_key(ev)] = ev
        meta = involved.get("metadata", {})
        ref: Obj = {
            "apiVersion": involved.get("apiVersion"),
            "kind": involved.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace") or "default",
            "resourceVersion": meta.get("resourceVersion", ""),
            "uid": meta.get("uid"),
        }
        if field_path:
            ref["fieldPath"] = field_path
        now = stamp(self.world.now)
        candidate: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"namespace": ref["namespace"]},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component, **({"host": host} if host else {})},
            "reportingComponent": component,
            "reportingInstance": host or "",
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": None,
        }
        existing = self._events.get(_event_key(candidate))
        if existing is not None:
            existing["count"] = int(existing.get("count", 1)) + 1
            existing["lastTimestamp"] = now
            existing["involvedObject"]["resourceVersion"] = ref["resourceVersion"]
            return existing
        nanos = int(self.world.now.timestamp() * 1e9) + self.world.rng.getrandbits(24)
        candidate["metadata"]["name"] = f"{meta.get('name')}.{nanos:x}"
        self.create(candidate)
        self._events[_event_key(candidate)] = candidate
        return candidate


def _event_key(ev: Obj) -> tuple[str, ...]:
    inv = ev.get("involvedObject") or {}
    return (
        str(inv.get("uid")),
        str(inv.get("fieldPath", "")),
        str(ev.get("type")),
        str(ev.get("reason")),
        str(ev.get("message")),
        str((ev.get("source") or {}).get("component")),
    )


# metadata ----------------------------------------------------------------------------------
def name_of(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("name", ""))


def ns_of(obj: Obj) -> str:
    return str(obj.get("metadata", {}).get("namespace") or "")


def owner_refs(obj: Obj) -> list[Obj]:
    return list(obj.get("metadata", {}).get("ownerReferences") or [])


def controller_ref(owner: Obj) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def terminating(obj: Obj) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def bump_generation(obj: Obj) -> None:
    """A spec change through the API bumps metadata.generation (scale, HPA)."""
    meta = obj["metadata"]
    meta["generation"] = int(meta.get("generation", 1)) + 1


# time --------------------------------------------------------------------------------------
def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str | None) -> datetime | None:
    return _parse_stamp(text[:19]) if text else None


@functools.lru_cache(maxsize=4096)
def _parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seconds_since(text: str | None, now: datetime) -> float:
    when = parse_stamp(text)
    return (now - when).total_seconds() if when else 0.0


def later(when: datetime, seconds: float) -> datetime:
    return when + timedelta(seconds=seconds)


# conditions --------------------------------------------------------------------------------
def get_condition(obj: Obj, type_: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def condition_true(obj: Obj, type_: str) -> bool:
    cond = get_condition(obj, type_)
    return cond is not None and cond.get("status") == "True"


def set_condition(
    conditions: list[Obj], cond: Obj, now: datetime, *, update_time: bool = False
) -> bool:
    """Put `cond` in `conditions`, keeping lastTransitionTime while the status stays the same
    (and leaving the list alone when status, reason and message are unchanged). Returns
    whether anything changed. `update_time`: the condition carries lastUpdateTime
    (Deployments)."""
    for i, old in enumerate(conditions):
        if old.get("type") != cond["type"]:
            continue
        if all(old.get(k) == cond.get(k) for k in ("status", "reason", "message")):
            return False
        new = dict(cond)
        same = old.get("status") == cond["status"]
        new["lastTransitionTime"] = old.get("lastTransitionTime") if same else stamp(now)
        if update_time:
            new["lastUpdateTime"] = stamp(now)
        conditions[i] = _ordered(new, update_time)
        return True
    new = dict(cond)
    new["lastTransitionTime"] = stamp(now)
    if update_time:
        new["lastUpdateTime"] = stamp(now)
    conditions.append(_ordered(new, update_time))
    return True


def _ordered(cond: Obj, update_time: bool) -> Obj:
    order = [
        "lastTransitionTime",
        "lastUpdateTime",
        "lastProbeTime",
        "message",
        "observedGeneration",
        "reason",
        "status",
        "type",
    ]
    out = {k: cond[k] for k in order if k in cond}
    out.update({k: v for k, v in cond.items() if k not in out})
    return out


# pods --------------------------------------------------------------------------------------
def pod_ready(pod: Obj) -> bool:
    return condition_true(pod, "Ready")


def pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    cond = get_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    return seconds_since(cond.get("lastTransitionTime"), now) >= min_ready_seconds


def pod_active(pod: Obj) -> bool:
    """Neither finished nor being deleted (controller.FilterActivePods)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not terminating(pod)


def selector_matches(selector: Obj | None, labels: dict[str, str] | None) -> bool:
    """A metav1.LabelSelector against labels; an empty selector matches everything."""
    labels = labels or {}
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


# quantities --------------------------------------------------------------------------------
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}


def quantity(value: object) -> Decimal:
    """A resource.Quantity ("250m", "1.5Gi", "1e9", 2) as a number of base units."""
    return _quantity(str(value).strip())


@functools.lru_cache(maxsize=1024)
def _quantity(text: str) -> Decimal:
    try:
        for suffix, factor in _BINARY.items():
            if text.endswith(suffix):
                return Decimal(text[: -len(suffix)]) * factor
        if text and text[-1] in _DECIMAL:
            return Decimal(text[:-1]) * _DECIMAL[text[-1]]
        return Decimal(text or 0)
    except InvalidOperation:
        return Decimal(0)


def pod_requests(pod: Obj) -> dict[str, Decimal]:
    """What the scheduler reserves: the sum over containers, at least each init container's."""
    spec = pod.get("spec") or {}
    total: dict[str, Decimal] = {"cpu": Decimal(0), "memory": Decimal(0)}
    for c in spec.get("containers") or []:
        for res, amount in ((c.get("resources") or {}).get("requests") or {}).items():
            total[res] = total.get(res, Decimal(0)) + quantity(amount)
    for c in spec.get("initContainers") or []:
        for res, amount in ((c.get("resources") or {}).get("requests") or {}).items():
            total[res] = max(total.get(res, Decimal(0)), quantity(amount))
    return total


# hashing -----------------------------------------------------------------------------------
def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """k8s rand.SafeEncodeString: digits mapped onto consonants and digits, no vowels."""
    return "".join(NAME_ALPHABET[ord(ch) % len(NAME_ALPHABET)] for ch in text)


def compute_hash(template: Obj, collision_count: int = 0) -> str:
    """controller.ComputeHash: fnv32a of the template, then SafeEncodeString of its decimal
    (so names look like `web-7d9c6b5f4`)."""
    data = json.dumps(template, sort_keys=True).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def drop_zero(status: Obj, keep: Iterable[str] = ()) -> Obj:
    """Go's omitempty: zero counters are absent from the JSON unless the field lacks it."""
    kept = set(keep)
    return {k: v for k, v in status.items() if k in kept or v not in (0, None, "", [], {})}
