"""Dropped samples kept with the version: a few examples of what each step removed, and why.

Layout inside a committed ``doc`` version folder (beside ``quarantine/``)::

    versions/<name>/<n>-<hash8>/excluded/<stage>-r<rank>.parquet

one row per kept example: ``key`` (``step:reason``, the same key as the manifest's ``drops``), ``step``,
``reason``, ``file`` and ``offset`` of the input record, ``id``, ``chars`` (full length) and ``text`` (the
first ``ledger.SAMPLE_CHARS`` characters as the step saw it: raw HTML for an extraction drop). Each rank keeps
up to N per key (``run_recipe(drop_samples=N)``, default 20); ``drops`` reads at most N per key for the whole
version, in (file, offset) order. ``manifest.stats["drop_samples"]`` counts the rows written per key, so the
catalog index knows which reasons have examples. Like quarantine, the files are not shards: they are not part
of the version's content hash (a resumed run and an uninterrupted one keep the same hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

EXCLUDED_DIR = "excluded"
SCHEMA = pa.schema([("key", pa.string()), ("step", pa.string()), ("reason", pa.string()), ("file", pa.string()),
                    ("offset", pa.int64()), ("id", pa.string()), ("chars", pa.int64()), ("text", pa.string())])


def write_samples(staging: Path, prefix: str, samples: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """One rank's samples → ``staging/excluded/<prefix>.parquet``; rows written per key."""
    rows = [r for key in sorted(samples) for r in samples[key]]
    if not rows:
        return {}
    d = staging / EXCLUDED_DIR
    d.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), d / f"{prefix}.parquet", compression="zstd")
    return {k: len(v) for k, v in samples.items() if v}


def drops(store: Any, ref: str, reason: str | None = None, per_key: int | None = None) -> list[dict[str, Any]]:
    """Kept examples of ``ref``'s dropped documents, ``per_key`` (default: the run's N) per ``step:reason``.
    ``reason`` filters: a full key (``langid:other_language``), a step (``langid``) or a reason (``other_language``)."""
    m = store.resolve(ref)
    d = store.path_of(m) / EXCLUDED_DIR
    files = sorted(d.glob("*.parquet")) if d.is_dir() else []
    if not files:
        return []
    rows = pa.concat_tables([pq.read_table(f, schema=SCHEMA) for f in files]).to_pylist()
    if reason:
        rows = [r for r in rows if reason in (r["key"], r["step"], r["reason"])]
    rows.sort(key=lambda r: (r["key"], r["file"], r["offset"] if r["offset"] is not None else -1, r["id"]))
    n = per_key or int((m.extra or {}).get("drop_samples") or 20)
    out, seen = [], {}
    for r in rows:
        seen[r["key"]] = seen.get(r["key"], 0) + 1
        if seen[r["key"]] <= n:
            out.append(r)
    return out
