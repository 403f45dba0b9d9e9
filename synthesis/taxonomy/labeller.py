"""Label the records of any version with taxonomy leaves, using a teacher, into a new version.

The teacher answers through structured output whose JSON schema restricts ``leaf`` to the valid leaf ids
(guided decoding on vLLM/SGLang, ``json_schema`` on OpenAI); a reply naming anything else fails schema
validation and is asked again. Every call goes through the request cache, so relabelling after a crash or
with a new taxonomy version only pays for what changed. Records keep their order; a record whose labelling
failed is kept unlabelled with the reason in ``meta.label_error`` (nothing is lost, counts add up).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from ..teachers.accounting import LiveProgress
from ..teachers.types import Request
from .model import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from catalogs import Manifest, Store

    from ..teachers.client import TeacherClient

SYSTEM = ("You label financial data with one task type of a fixed taxonomy. Read the record and answer with "
          "the single leaf id that best describes the task it shows, and your confidence from 0 to 1.")


def label_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    return {"title": "TaxonomyLabel", "type": "object", "additionalProperties": False,
            "properties": {"leaf": {"type": "string", "enum": taxonomy.leaf_ids()},
                           "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
            "required": ["leaf", "confidence"]}


def record_text(kind: str, rec: dict[str, Any], max_chars: int = 4000) -> str:
    if kind == "doc":
        text = rec.get("text") or ""
    else:
        msgs = rec.get("messages") if kind == "sft" else rec.get("prompt")
        text = "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in msgs or [])
    return text if len(text) <= max_chars else text[:max_chars] + " …"


def label_request(kind: str, rec: dict[str, Any], taxonomy: Taxonomy, max_chars: int = 4000) -> Request:
    leaves = "\n".join(f"- {lf.path}: {lf.description}" for lf in taxonomy.leaves.values())
    return Request(
        messages=[{"role": "system", "content": SYSTEM},
                  {"role": "user", "content": f"Taxonomy leaves:\n{leaves}\n\nRecord:\n{record_text(kind, rec, max_chars)}"}],
        id=str(rec.get("id")), schema=label_schema(taxonomy), params={"temperature": 0.0})


def label_version(store: Store, ref: str, client: TeacherClient, taxonomy: Taxonomy | None = None,
                  name: str | None = None, max_chars: int = 4000, progress: bool = True) -> Manifest:
    """Write ``name`` (default: the same dataset, next version) = ``ref`` with taxonomy labels."""
    taxonomy = taxonomy or load_taxonomy()
    src = store.resolve(ref)
    if src.kind not in ("doc", "sft", "rl"):
        raise ValueError(f"{src.ref} is a '{src.kind}' version: only doc/sft/rl records can be labelled")
    recipe = {"labeller": {"teacher": client.endpoint.label, "taxonomy_version": taxonomy.version,
                           "leaves": len(taxonomy.leaves), "max_chars": max_chars}}
    failures: dict[str, int] = {}
    with store.writer(name or src.name, src.kind, parents=[src.ref], recipe=recipe) as w:
        records: dict[int, dict[str, Any]] = {}
        done: dict[int, Any] = {}

        def requests():
            for i, rec in enumerate(store.iter_records(src)):
                records[i] = rec
                req = label_request(src.kind, rec, taxonomy, max_chars)
                req.meta = {"index": i}
                yield req

        async def go() -> None:
            nxt = 0
            try:
                with LiveProgress(client.accounting, src.rows, f"label {src.ref}", enabled=progress) as live:
                    async for rep in client.map(requests(), progress=live):
                        done[rep.meta["index"]] = rep
                        while nxt in done:  # write in the source order
                            _write(w, src.kind, records.pop(nxt), done.pop(nxt), taxonomy, failures)
                            nxt += 1
            finally:
                await client.aclose()

        asyncio.run(go())
        w.add_inputs(src.rows)
        w.extra.update({"teacher_accounting": client.accounting.to_dict(), "label_failures": failures,
                        "labelled": src.rows - sum(failures.values())})
    assert w.manifest is not None
    return w.manifest


def _write(w: Any, kind: str, rec: dict[str, Any], rep: Any, taxonomy: Taxonomy, failures: dict[str, int]) -> None:
    leaf, error = None, rep.error
    if error is None and rep.parsed is not None:
        leaf = rep.parsed.get("leaf")
        if leaf not in taxonomy.leaves:
            leaf, error = None, f"not a leaf: {leaf!r}"
    elif error is None:
        error = f"no structured reply (finish_reason {rep.finish_reason})"
    meta = json.loads(rec["meta"]) if rec.get("meta") else {}
    if not isinstance(meta, dict):
        meta = {"meta": meta}
    if error:
        failures[error.split(":")[0][:60]] = failures.get(error.split(":")[0][:60], 0) + 1
        meta["label_error"] = error[:300]
    else:
        meta["taxonomy_confidence"] = rep.parsed.get("confidence")
        meta["label_request_hash"] = rep.request_hash
    if kind == "doc":
        if leaf:
            meta["taxonomy"] = leaf
    elif leaf:
        rec["taxonomy"] = leaf
    rec["meta"] = json.dumps(meta, ensure_ascii=False, sort_keys=True)
    w.write([rec], validated=True)
