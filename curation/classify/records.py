"""Reading inputs for the classifier and decontamination verbs: JSONL/Parquet files or catalog refs.

A source spec is ``PATH_OR_REF`` optionally followed by ``#field=value`` to keep only the records whose
``field`` (a column, or ``meta.<key>`` inside the meta JSON) equals ``value``; for example
``quality-labelled@1#meta.label=keep``. Text of a record: ``text`` (doc / generic JSONL), else the
concatenated message contents of ``messages`` (sft) or ``prompt`` (rl), so the same code serves all kinds.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finance.messages import messages_text
from finance.text import detect_language

FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet", ".ndjson")


class InputError(ValueError):
    """A bad input file or record; the message names the file and line."""


@dataclass(frozen=True)
class SourceSpec:
    target: str
    field: str | None = None
    value: str | None = None

    @property
    def is_file(self) -> bool:
        return self.target.endswith(FILE_SUFFIXES) or Path(self.target).is_file()

    def __str__(self) -> str:
        return self.target + (f"#{self.field}={self.value}" if self.field else "")


def parse_source(spec: str) -> SourceSpec:
    target, _, cond = spec.partition("#")
    if not cond:
        return SourceSpec(target)
    field, eq, value = cond.partition("=")
    if not eq or not field:
        raise InputError(f"source {spec!r}: the filter after '#' must look like field=value")
    return SourceSpec(target, field, value)


def get_field(rec: dict[str, Any], field: str) -> Any:
    """A column, or ``meta.<key>`` looked up inside the meta JSON string (or dict)."""
    if field.startswith("meta.") and field not in rec:
        meta = rec.get("meta")
        if isinstance(meta, str) and meta:
            try:
                meta = json.loads(meta)
            except json.JSONDecodeError:
                return None
        return (meta or {}).get(field[5:]) if isinstance(meta, dict) else None
    return rec.get(field)


def iter_file(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("file:line", record)``; a line that is not a JSON object raises InputError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")  # a missing path is bad input (the CLI's exit 2)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        row = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for rec in batch.to_pylist():
                row += 1
                yield f"{path}:{row}", rec
        return
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for i, rec in enumerate(data if isinstance(data, list) else [data], 1):
            yield f"{path}:{i}", rec
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(rec, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(rec).__name__}")
            yield f"{path}:{lineno}", rec


def iter_source(spec: str | SourceSpec, store=None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Records of a file or a catalog version (``name@N``), with the ``#field=value`` filter applied."""
    src = parse_source(spec) if isinstance(spec, str) else spec
    if src.is_file:
        it = iter_file(src.target)
    else:
        if store is None:
            raise InputError(f"{src.target}: not a file, and no store was given to resolve it as a catalog ref")
        m = store.resolve(src.target)
        it = ((f"{m.ref}:{i}", r) for i, r in enumerate(store.iter_records(m), 1))
    for where, rec in it:
        if src.field is None or str(get_field(rec, src.field)) == src.value:
            yield where, rec


def record_text(rec: dict[str, Any], where: str = "record") -> str:
    """The text a classifier or a decontamination check sees for a doc, sft, rl or generic record."""
    text = rec.get("text")
    if isinstance(text, str):
        return text
    msgs = rec.get("messages") if rec.get("messages") is not None else rec.get("prompt")
    if isinstance(msgs, list):
        return messages_text(msgs, sep="\n")
    raise InputError(f"{where}: record has no 'text' field and no 'messages'/'prompt' list")


def record_lang(rec: dict[str, Any], text: str | None = None) -> str:
    """``lang`` of a catalog record, datatrove's ``metadata.language``, else the detected language of the text."""
    meta = rec.get("metadata")
    lang = rec.get("lang") or (meta.get("language") if isinstance(meta, dict) else None)
    if lang:
        return str(lang)
    return detect_lang(text if text is not None else record_text(rec))


def detect_lang(text: str) -> str:
    """Language of ``text`` by ``finance.text.detect_language``; "unknown" for blank text."""
    return detect_language(text)[0] if text.strip() else "unknown"


def write_jsonl(path: str | Path, records) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=_jsonable) + "\n")
            n += 1
    tmp.replace(path)  # a crash leaves no half-written output
    return n


def _jsonable(v: Any) -> Any:
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


def write_version(store, name: str, kind: str, rows: list[dict[str, Any]], parents: list[str],
                  recipe: dict[str, Any], drops: dict[str, int], inputs: int, extra: dict[str, Any] | None = None):
    """Write kept rows as a version of ``kind`` (extras that are not columns go into ``meta``); the manifest
    counts ``inputs = rows + drops``. Returns the manifest."""
    from catalogs import SCHEMAS

    cols = set(SCHEMAS[kind].names)
    batch = []
    for r in rows:
        more = {k: v for k, v in r.items() if k not in cols}
        r = {k: v for k, v in r.items() if k in cols}
        if more:  # e.g. 'contamination' in flag mode
            meta = r.get("meta")
            meta = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
            r["meta"] = {**meta, **more}
        batch.append(r)
    with store.writer(name, kind=kind, parents=parents, recipe=recipe, extra=extra) as w:
        if batch:
            w.write(batch, where=name)
        for reason, n in drops.items():
            w.count_drop(reason, n)
        w.add_inputs(inputs)
    return w.manifest
