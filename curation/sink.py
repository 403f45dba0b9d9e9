"""Where a rank's documents end: a ``ShardWriter`` in the version's shared staging folder.

``VersionPartWriter`` writes one rank's part of the version: its documents as ``doc`` records (unless
``write_rows=False``: the first stage of a dedup pipeline only accounts), and at the end of its input the
rank's accounting (inputs, quarantine, drops by ``step:reason`` from ``ledger.py``) into its writer part, so
that ``Store.commit`` sums every rank into one manifest. ``IntermediateWriter``/``Reader`` carry documents
between the stages of a dedup pipeline in rank order (MinHash files refer to documents by position).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from .ledger import Ledger, drops_by_reason, stat_totals

META_DROP = {"html", "_record"}


def to_record(doc: Document) -> dict[str, Any]:
    """A datatrove Document → a ``doc`` record (DESIGN.md): language and classifier scores as columns."""
    md = dict(doc.metadata)
    scores = dict(md.pop("scores", None) or {})
    if md.get("language_score") is not None:
        scores["lang"] = float(md["language_score"])
    lang = md.pop("language", None) or md.get("in_lang")
    url = md.pop("url", None)
    source = md.pop("in_source", None) or md.get("source")
    meta = {k: v for k, v in md.items() if k not in META_DROP and v is not None}
    meta["source_id"] = doc.id
    return {"text": doc.text, "url": url, "lang": lang, "source": None if source is None else str(source),
            "scores": scores or None, "meta": json.dumps(meta, ensure_ascii=False, default=str, sort_keys=True)}


class VersionPartWriter(PipelineStep):
    """Last step of a stage: this rank's writer part (rows and/or accounting). ``write_rows``: records go to the
    shard writer; ``count_inputs``: the reader's inputs and quarantine are this stage's; ``pass_through``:
    documents continue downstream (then it is not the last step)."""

    name = "💾 huijin version part"
    type = "💽 - WRITER"

    def __init__(self, staging: str, ledger: Ledger, steps: list[tuple[str, Any]], prefix: str, kind: str = "doc",
                 write_rows: bool = True, count_inputs: bool = True, pass_through: bool = False,
                 first_tap: int = 0) -> None:
        super().__init__()
        self.staging, self.ledger, self.steps, self.prefix, self.kind = str(staging), ledger, steps, prefix, kind
        self.write_rows, self.count_inputs, self.pass_through = write_rows, count_inputs, pass_through
        self.first_tap = first_tap

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from catalogs import SchemaError, ShardWriter, normalize_record

        before = [stat_totals(s) for _, s in self.steps]
        _clear_rank(Path(self.staging), f"{self.prefix}-r{rank:05d}")
        w = ShardWriter(self.staging, self.kind, prefix=f"{self.prefix}-r{rank:05d}")
        try:
            for doc in data or []:
                if self.write_rows:
                    with self.track_time():
                        try:
                            rec = normalize_record(self.kind, to_record(doc), f"{doc.metadata.get('source')}:"
                                                   f"{doc.metadata.get('offset')}")
                            w.write([rec], validated=True)
                            for k, v in (doc.metadata.get("pii") or {}).items():  # manifest stats: pii per type
                                w.stats.setdefault("pii", Counter())[k] += int(v)
                        except (SchemaError, TypeError, ValueError) as e:
                            w.quarantine(f"invalid_record: {e}"[:300], file=str(doc.metadata.get("source", "")),
                                         offset=_int(doc.metadata.get("offset")), record=doc.text[:2000])
                if self.pass_through:
                    yield doc
            self._account(w, rank, before)
            w.close()
        except BaseException:
            w.abort()
            raise

    def _account(self, w: Any, rank: int, before: list[dict[str, float]]) -> None:
        acc = self.ledger.of(rank)
        if self.count_inputs:
            w.add_inputs(acc.inputs)
            for q in acc.quarantine:
                w.quarantine(q["reason"], file=q["file"], offset=q["offset"], record=q["record"])
            for reason, n in acc.reader_drops.items():
                w.count_drop(f"read:{reason}", n)
        for key, n in drops_by_reason(self.steps, acc, before, self.first_tap).items():
            w.count_drop(key, n)
        for (_, step), b in zip(self.steps, before, strict=True):
            _copy_manifest_stats(w, step, b)
        if acc.samples:
            from .tracer import write_samples

            n = write_samples(Path(self.staging), f"{self.prefix}-r{rank:05d}", acc.samples)
            w.stats.setdefault("drop_samples", Counter()).update(n)


def _clear_rank(staging: Path, prefix: str) -> None:
    """What an earlier, killed attempt of this rank left (partial shards, quarantine, samples, part): a resumed
    task starts clean and writes the same files an uninterrupted run would."""
    for f in [*staging.glob(f"{prefix}-*.parquet"), staging / "quarantine" / f"{prefix}.parquet",
              staging / "excluded" / f"{prefix}.parquet", staging / "_parts" / f"{prefix}.json"]:
        f.unlink(missing_ok=True)


def _copy_manifest_stats(w: Any, step: Any, before: dict[str, float]) -> None:
    """A step's ``manifest_stats`` (stat-key prefix -> stats group) puts this rank's counts of those stats
    into the manifest's ``stats`` (e.g. which benchmark items a decontamination step matched)."""
    prefixes = getattr(step, "manifest_stats", None)
    if not prefixes:
        return
    for key, total in stat_totals(step).items():
        for prefix, group in prefixes.items():
            n = int(total - before.get(key, 0))
            if key.startswith(prefix) and n > 0:
                w.stats.setdefault(group, Counter())[key.removeprefix(prefix)] += n


def _int(x: Any) -> int | None:
    return x if isinstance(x, int) else None


class IntermediateWriter(PipelineStep):
    """Writes this rank's documents, in order, to ``folder/RRRRR.jsonl.gz`` (always, even when empty)."""

    name = "📦 huijin stage writer"
    type = "💽 - WRITER"

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = str(folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        Path(self.folder).mkdir(parents=True, exist_ok=True)
        with gzip.open(Path(self.folder) / f"{rank:05d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) as f:
            for doc in data or []:
                f.write(json.dumps({"id": doc.id, "text": doc.text, "metadata": doc.metadata},
                                   ensure_ascii=False, default=str) + "\n")
                yield doc


class IntermediateReader(PipelineStep):
    """Reads back what ``IntermediateWriter`` wrote for this rank."""

    name = "📦 huijin stage reader"
    type = "📖 - READER"

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = str(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        p = Path(self.folder) / f"{rank:05d}.jsonl.gz"
        if not p.exists():
            return
        with gzip.open(p, "rt", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                yield Document(text=d["text"], id=d["id"], metadata=d["metadata"])
