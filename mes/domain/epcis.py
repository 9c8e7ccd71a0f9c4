"""EPCIS 2.0 event identity (issue 19): the GS1 CBV 2.0 canonical event hash (CBV §8.9).

The pre-hash string is `eventType=…` then each present field, in the standard's order, as
`key=value` with no separator; list entries are normalised and sorted (UTF-8 order); CBV
short names are expanded to their `https://ref.gs1.org/cbv/` web URIs; times are UTC with
milliseconds and `Z`; numbers lose trailing zeros; ILMD and user extensions follow as
`{namespace}name=value`, sorted. eventID = `ni:///sha-256;<hex>?ver=CBV2.0`.
Checked against the prehash strings of GS1's reference implementation in the tests.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

CBV = "https://ref.gs1.org/cbv/"
_VOCAB = {"bizStep": "BizStep-", "disposition": "Disp-", "btt": "BTT-", "sdt": "SDT-"}
# Context prefixes this plant writes (and the EPCIS context's own cbvmda).
NAMESPACES = {"cbvmda": "urn:epcglobal:cbv:mda:", "mes": "https://mes.invalid/epcis/"}


def _vocab(kind: str, value: str) -> str:
    return value if ":" in value else CBV + _VOCAB[kind] + value


def _time(value: str) -> str:
    t = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(value: Any) -> str:
    f = float(value)
    return str(int(f)) if f.is_integer() else repr(f)


def _epcs(key: str, values: list[str] | None) -> str:
    if not values:
        return ""
    return key + "".join(sorted(f"epc={v}" for v in values))


def _quantities(key: str, values: list[dict[str, Any]] | None) -> str:
    if not values:
        return ""
    items = []
    for q in values:
        s = f"quantityElementepcClass={q['epcClass']}"
        if "quantity" in q:
            s += f"quantity={_number(q['quantity'])}"
        if q.get("uom"):
            s += f"uom={q['uom']}"
        items.append(s)
    return key + "".join(sorted(items))


def _typed(key: str, field: str, kind: str, values: list[dict[str, str]] | None) -> str:
    if not values:
        return ""
    items = []
    for v in values:
        t = f"type={_vocab(kind, v['type'])}" if v.get("type") else ""
        items.append(t + f"{field}={v[field]}")
    return key + "".join(sorted(items))


def _expand(name: str) -> str:
    prefix, _, local = name.partition(":")
    ns = NAMESPACES.get(prefix)
    if ns is None or not local:
        return name
    return "{" + ns.rstrip(":") + "}" + local


def _extension(values: dict[str, Any]) -> list[str]:
    out = []
    for k, v in values.items():
        if isinstance(v, dict):
            out.append(_expand(k) + "".join(sorted(_extension(v))))
        elif isinstance(v, list):
            out += [f"{_expand(k)}={x}" for x in v]
        else:
            out.append(f"{_expand(k)}={_number(v) if isinstance(v, int | float) else v}")
    return out


def prehash(event: dict[str, Any]) -> str:
    e = event
    parts = [f"eventType={e['type']}", f"eventTime={_time(e['eventTime'])}",
             f"eventTimeZoneOffset={e['eventTimeZoneOffset']}",
             _epcs("epcList", e.get("epcList")),
             f"parentID={e['parentID']}" if e.get("parentID") else "",
             _epcs("inputEPCList", e.get("inputEPCList")),
             _epcs("childEPCs", e.get("childEPCs")),
             _quantities("quantityList", e.get("quantityList")),
             _quantities("childQuantityList", e.get("childQuantityList")),
             _quantities("inputQuantityList", e.get("inputQuantityList")),
             _epcs("outputEPCList", e.get("outputEPCList")),
             _quantities("outputQuantityList", e.get("outputQuantityList")),
             f"action={e['action']}" if e.get("action") else "",
             f"transformationID={e['transformationID']}" if e.get("transformationID") else "",
             f"bizStep={_vocab('bizStep', e['bizStep'])}" if e.get("bizStep") else "",
             f"disposition={_vocab('disposition', e['disposition'])}"
             if e.get("disposition") else "",
             f"readPointid={e['readPoint']['id']}" if e.get("readPoint") else "",
             f"bizLocationid={e['bizLocation']['id']}" if e.get("bizLocation") else "",
             _typed("bizTransactionList", "bizTransaction", "btt", e.get("bizTransactionList")),
             _typed("sourceList", "source", "sdt", e.get("sourceList")),
             _typed("destinationList", "destination", "sdt", e.get("destinationList"))]
    if e.get("ilmd"):
        parts.append("ilmd" + "".join(sorted(_extension(e["ilmd"]))))
    known = {"type", "eventTime", "eventTimeZoneOffset", "epcList", "parentID", "inputEPCList",
             "childEPCs", "quantityList", "childQuantityList", "inputQuantityList",
             "outputEPCList", "outputQuantityList", "action", "transformationID", "bizStep",
             "disposition", "readPoint", "bizLocation", "bizTransactionList", "sourceList",
             "destinationList", "ilmd", "eventID", "recordTime", "@context", "certificationInfo"}
    parts += sorted(_extension({k: v for k, v in e.items() if k not in known}))
    return "".join(parts)


def event_id(event: dict[str, Any]) -> str:
    digest = hashlib.sha256(prehash(event).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"
