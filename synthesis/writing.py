"""Writing synthesized ``sft`` / ``rl`` versions: provenance on every row, failures kept with their reason.

    with SynthWriter(store, "fin-sft", "sft", generator="qa-v1", recipe=recipe, parents=["fin-web@3"],
                     accounting=client.accounting) as w:
        for reply in replies:
            if reply.ok:
                w.add({"messages": [...], "taxonomy": "...", "lang": "en"}, reply)
            else:
                w.fail(f"teacher_failed: {reply.error}", item={"seed": ...}, reply=reply)
    w.manifest  # rows + failed + dropped == inputs; extra["teacher_accounting"] holds requests/tokens/cost

Failed items go to the version's failures shard (the catalog writer's quarantine, ``store.read_quarantine``)
with the reason; records that fail the kind's schema are failed the same way instead of aborting the run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from catalogs import SchemaError, normalize_record
from catalogs.manifest import recipe_hash

from .teachers.accounting import Accounting
from .teachers.types import Reply

if TYPE_CHECKING:
    from catalogs import Manifest, Store


class SynthWriter:
    def __init__(self, store: Store, name: str, kind: str, generator: str, recipe: dict[str, Any] | None = None,
                 parents: Iterable[str] = (), accounting: Accounting | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        if kind not in ("sft", "rl"):
            raise ValueError(f"SynthWriter writes sft or rl versions, not {kind!r}")
        self.store, self.name, self.kind, self.generator = store, name, kind, generator
        self.recipe = recipe or {}
        self.recipe_hash = recipe_hash(self.recipe)
        self.accounting = accounting
        self._writer = store.writer(name, kind, parents=parents, recipe=self.recipe, extra=dict(extra or {}))
        self.failures: Counter[str] = Counter()
        self.n_inputs = 0
        self.manifest: Manifest | None = None

    def provenance(self, reply: Reply | None) -> dict[str, Any]:
        return {"generator": self.generator, "teacher": reply.teacher if reply else None,
                "request_hash": reply.request_hash if reply else None, "recipe": self.recipe_hash}

    def add(self, record: dict[str, Any], reply: Reply | None = None) -> bool:
        """Write one record with its provenance; a record that fails the schema is failed, not raised."""
        self.n_inputs += 1
        rec = dict(record)
        rec["source"] = {**self.provenance(reply), **{k: v for k, v in (rec.get("source") or {}).items() if v}}
        if reply is not None:
            rec["meta"] = _merge_meta(rec.get("meta"), {"finish_reason": reply.finish_reason, "cached": reply.cached})
        try:
            row = normalize_record(self.kind, rec, f"{self.generator} item {self.n_inputs - 1}")
        except SchemaError as e:
            self._fail(f"invalid_record: {e}", record, reply)
            return False
        self._writer.write([row], validated=True)
        return True

    def fail(self, reason: str, item: Any = None, reply: Reply | None = None) -> None:
        """Keep a failed item (teacher error, unparseable reply, verifier mismatch…) with its reason.

        The part of ``reason`` before the first ``:`` is the counted category (``teacher_failed: 500 …``)."""
        self.n_inputs += 1
        self._fail(reason, item, reply)

    def _fail(self, reason: str, item: Any, reply: Reply | None) -> None:
        self.failures[reason.split(":")[0]] += 1
        payload = {"item": item, "source": self.provenance(reply)}
        if reply is not None:
            payload["reply"] = {"content": (reply.content or "")[:4000], "finish_reason": reply.finish_reason,
                                "error": reply.error}
        self._writer.quarantine(reason, file=self.generator, offset=self.n_inputs - 1, record=payload)

    def drop(self, reason: str, n: int = 1) -> None:
        """Count items removed on purpose (deduplicated, filtered) without keeping them."""
        self.n_inputs += n
        self._writer.count_drop(reason, n)

    def __enter__(self) -> SynthWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.add_inputs(self.n_inputs)
        self._writer.extra["generator"] = self.generator
        self._writer.extra["failures"] = dict(self.failures)
        if self.accounting is not None:
            self._writer.extra["teacher_accounting"] = self.accounting.to_dict()
        self._writer.__exit__(exc_type, exc, tb)
        self.manifest = self._writer.manifest


def _merge_meta(meta: Any, add: dict[str, Any]) -> str:
    if meta is None:
        base: dict[str, Any] = {}
    elif isinstance(meta, str):
        try:
            base = json.loads(meta) if meta else {}
        except json.JSONDecodeError:
            base = {"meta": meta}
    else:
        base = dict(meta)
    if not isinstance(base, dict):
        base = {"meta": base}
    return json.dumps({**base, **{k: v for k, v in add.items() if k not in base}}, ensure_ascii=False, sort_keys=True)
