"""Decontamination as a datatrove filter and over plain records (JSONL, catalog doc/sft/rl versions).

Recipe use (dotted path): ``curation.decontam.step:DecontaminationFilter`` with
``{benchmarks: {finqa: path/to/dev.json, fineva: path/to/SUFE_dev}, mode: remove}``. The n-gram index is
built lazily, once per worker, from the benchmark files (they are small; building takes well under a
second for the four shared dev sets).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from ..classify.records import record_text
from .index import DecontConfig, Match, NgramIndex, build_index

MODES = ("remove", "flag")


class DecontaminationFilter(BaseFilter):
    """Drop (``mode="remove"``) or annotate (``mode="flag"``) documents containing benchmark test items.

    The matches go to ``metadata["contamination"]`` as ``[{benchmark, item, part, ngrams, of}]``. Which
    benchmarks and items matched (in both modes) is counted in the step's stats, which a curation run's
    ``VersionPartWriter`` copies into the manifest's ``stats`` (see ``manifest_stats``): ``contamination``
    ``{benchmark: docs}`` and ``contaminated_items`` ``{"benchmark:item": docs}``.
    """

    name = "🦠 huijin decontaminate"
    type = "🦠 - DECONT"
    # stat-key prefix -> manifest stats group (read by curation.sink.VersionPartWriter)
    manifest_stats = {"contaminated_": "contamination", "item_matched_": "contaminated_items"}

    def __init__(self, benchmarks: dict[str, str], mode: str = "remove", formats: dict[str, str] | None = None,
                 config: dict[str, Any] | DecontConfig | None = None,
                 exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.benchmarks, self.mode, self.formats = dict(benchmarks), mode, formats
        self.config = config if isinstance(config, DecontConfig) else DecontConfig(**(config or {}))
        self._index: NgramIndex | None = None

    @property
    def index(self) -> NgramIndex:
        if self._index is None:
            self._index = build_index(self.benchmarks, self.config, self.formats)
        return self._index

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        matches = self.index.match(doc.text)
        if not matches:
            return True
        doc.metadata["contamination"] = [m.to_dict() for m in matches]
        for b in sorted({m.benchmark for m in matches}):
            self.stat_update(f"contaminated_{b}")
        for b, item in sorted({(m.benchmark, m.item_id) for m in matches}):
            self.stat_update(f"item_matched_{b}:{item}")
        return True if self.mode == "flag" else (False, "contaminated")

    def __getstate__(self) -> dict:  # workers rebuild the index themselves
        return {**self.__dict__, "_index": None}


class DecontamReport:
    """Counts per benchmark and the list of flagged records with what they matched."""

    def __init__(self, index: NgramIndex, mode: str) -> None:
        self.index, self.mode = index, mode
        self.counts: Counter[str] = Counter()
        self.per_benchmark: dict[str, Counter[str]] = {}
        self.items_hit: dict[str, set[str]] = {}
        self.flagged: list[dict[str, Any]] = []

    def add(self, where: str, rec_id: Any, matches: list[Match]) -> None:
        self.counts["input"] += 1
        if not matches:
            self.counts["clean"] += 1
            return
        self.counts["flagged"] += 1
        self.counts["removed" if self.mode == "remove" else "kept_flagged"] += 1
        for b in sorted({m.benchmark for m in matches}):
            self.per_benchmark.setdefault(b, Counter())["flagged_docs"] += 1
        for m in matches:
            self.items_hit.setdefault(m.benchmark, set()).add(m.item_id)
        self.flagged.append({"record": where, "id": rec_id, "benchmarks": sorted({m.benchmark for m in matches}),
                             "matches": [m.to_dict() for m in matches]})

    def to_dict(self) -> dict[str, Any]:
        benches = {}
        for b, st in self.index.summary().items():
            benches[b] = {**st, "flagged_docs": self.per_benchmark.get(b, Counter())["flagged_docs"],
                          "items_matched": len(self.items_hit.get(b, ()))}
        return {"mode": self.mode, "config": asdict(self.index.config), "counts": dict(self.counts),
                "benchmarks": benches, "matched_items": {b: sorted(ids) for b, ids in sorted(self.items_hit.items())},
                "flagged": self.flagged}


def decontaminate_records(records: Iterable[tuple[str, dict[str, Any]]], index: NgramIndex, mode: str = "remove",
                          report: DecontamReport | None = None) -> Iterator[dict[str, Any]]:
    """Yield the records to keep (all of them in ``flag`` mode, annotated with ``contamination``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    report = report if report is not None else DecontamReport(index, mode)
    for where, rec in records:
        matches = index.match(record_text(rec, where))
        report.add(where, rec.get("id"), matches)
        if matches and mode == "remove":
            continue
        if matches:
            rec["contamination"] = [m.to_dict() for m in matches]
        yield rec


def decontaminate_source(index: NgramIndex, source: str, store=None, mode: str = "remove",
                         wrap: Callable[[Iterable], Iterable] | None = None) -> tuple[list[dict[str, Any]], DecontamReport]:
    """Decontaminate every record of ``source`` (a JSONL/Parquet file or a catalog ref): ``(kept rows, report)``.
    ``wrap`` wraps the record stream (progress)."""
    from ..classify.records import iter_source

    rep = DecontamReport(index, mode)
    records = iter_source(source, store)
    rows = list(decontaminate_records(wrap(records) if wrap else records, index, mode, rep))
    return rows, rep


def write_decontaminated_version(store, name: str, source: str, rows: list[dict[str, Any]], rep: DecontamReport,
                                 recipe: dict[str, Any] | None = None):
    """The kept rows as a version of the input's kind (a file input: ``doc``, named in the recipe; a version
    input: its parent); drops are counted per benchmark combination (``contaminated:finqa+tatqa``)."""
    from ..classify.records import parse_source, write_version

    if parse_source(source).is_file:
        kind, parents = "doc", []
    else:
        src = store.resolve(source)
        kind, parents = src.kind, [src.ref]
    drops: dict[str, int] = {}
    if rep.mode == "remove":
        for f in rep.flagged:
            key = "contaminated:" + "+".join(f["benchmarks"])
            drops[key] = drops.get(key, 0) + 1
    rec = {"op": "decontaminate", "mode": rep.mode, "config": asdict(rep.index.config), **(recipe or {})}
    return write_version(store, name, kind, rows, parents, rec, drops, rep.counts["input"],
                         extra={"decontamination": {k: v for k, v in rep.to_dict().items() if k != "flagged"}})


def decontaminate_version(store, index: NgramIndex, ref: str, name: str, mode: str = "remove",
                          recipe: dict[str, Any] | None = None) -> tuple[Any, DecontamReport]:
    """Decontaminate a doc/sft/rl version into a new version of the same kind (parent: ``ref``)."""
    ref = store.resolve(ref).ref
    rows, rep = decontaminate_source(index, ref, store, mode)
    return write_decontaminated_version(store, name, ref, rows, rep, recipe), rep
