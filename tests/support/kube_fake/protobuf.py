"""Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`).
client-go's typed clients send them: Helm's release storage creates and updates its Secrets
that way. Only what those clients send is decoded (Secret, ConfigMap, DeleteOptions with their
ObjectMeta), into the JSON shape the rest of the fake works on; answers stay JSON, which the
same clients also accept."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"

# field number -> (JSON name, type); types: str, bytes, int, bool, time, map:str, map:bytes,
# list:str, msg:<Name>, list:<Name>
_MESSAGES: dict[str, dict[int, tuple[str, str]]] = {
    "Unknown": {1: ("typeMeta", "msg:TypeMeta"), 2: ("raw", "bytes")},
    "TypeMeta": {1: ("apiVersion", "str"), 2: ("kind", "str")},
    "ObjectMeta": {
        1: ("name", "str"),
        2: ("generateName", "str"),
        3: ("namespace", "str"),
        5: ("uid", "str"),
        6: ("resourceVersion", "str"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "time"),
        9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int"),
        11: ("labels", "map:str"),
        12: ("annotations", "map:str"),
        13: ("ownerReferences", "list:OwnerReference"),
        14: ("finalizers", "list:str"),
    },
    "OwnerReference": {
        1: ("kind", "str"),
        3: ("name", "str"),
        4: ("uid", "str"),
        5: ("apiVersion", "str"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "Secret": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("data", "map:bytes"),
        3: ("type", "str"),
        4: ("stringData", "map:str"),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "msg:ObjectMeta"),
        2: ("data", "map:str"),
        3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool"),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"),
        2: ("preconditions", "msg:Preconditions"),
        3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "str"),
        5: ("dryRun", "list:str"),
    },
    "Preconditions": {1: ("uid", "str"), 2: ("resourceVersion", "str")},
}
SUPPORTED = ("Secret", "ConfigMap", "DeleteOptions")


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for everything else."""
    found: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            found.append((number, value))
        elif wire == 2:
            size, pos = _varint(data, pos)
            found.append((number, data[pos : pos + size]))
            pos += size
        elif wire == 1:
            found.append((number, data[pos : pos + 8]))
            pos += 8
        elif wire == 5:
            found.append((number, data[pos : pos + 4]))
            pos += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return found


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _message(data: bytes, name: str) -> dict[str, Any]:
    layout = _MESSAGES[name]
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in layout:
            continue  # managedFields and the like: the server records its own
        field, kind = layout[number]
        if kind == "str":
            out[field] = bytes(value).decode() if isinstance(value, bytes) else str(value)
        elif kind == "bytes" and isinstance(value, bytes):
            out[field] = value
        elif kind == "int" and isinstance(value, int):
            out[field] = _signed(value)
        elif kind == "bool" and isinstance(value, int):
            out[field] = bool(value)
        elif kind == "time" and isinstance(value, bytes):
            seconds = _message(value, "Time").get("seconds", 0)
            if seconds:
                moment = datetime.fromtimestamp(seconds, UTC)
                out[field] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif kind.startswith("map:") and isinstance(value, bytes):
            entry = dict(_fields(value))
            raw_key = entry.get(1, b"")
            key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
            raw = entry.get(2, b"")
            raw = raw if isinstance(raw, bytes) else b""
            if kind == "map:bytes":
                out.setdefault(field, {})[key] = base64.b64encode(raw).decode()
            else:
                out.setdefault(field, {})[key] = raw.decode()
        elif kind == "list:str" and isinstance(value, bytes):
            out.setdefault(field, []).append(value.decode())
        elif kind.startswith("list:") and isinstance(value, bytes):
            out.setdefault(field, []).append(_message(value, kind[5:]))
        elif kind.startswith("msg:") and isinstance(value, bytes):
            out[field] = _message(value, kind[4:])
    # gogo-protobuf writes empty optional strings and zero numbers: JSON omits them
    return {k: v for k, v in out.items() if v not in ("", 0, None) or isinstance(v, bool)}


def decode(raw: bytes) -> dict[str, Any]:
    """The object a protobuf request body carries, as JSON would carry it."""
    if not raw.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf prefix")
    envelope = _message(raw[len(MAGIC) :], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = str(type_meta.get("kind", ""))
    if kind not in SUPPORTED:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported by the fake")
    obj = _message(envelope.get("raw", b""), kind)
    if kind != "DeleteOptions":
        obj = {"apiVersion": type_meta.get("apiVersion", "v1"), "kind": kind, **obj}
    return obj
