"""Train a binary fastText classifier (positives vs negatives), evaluate it per language on a held-out
split, write ``model.ftz`` + ``classifier.json`` + ``report.json`` and register it as a catalog artifact.

Split: by group (``meta.group`` of a record, else the record id), so chunks of one document — or all
filings of one company, when the data prep sets the group — never sit on both sides of the split.
Long documents are cut into paragraph-aligned chunks so train and test units look like scored units.
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import best_f1_threshold, binary_report
from .model import MODEL_FILE, NEG, POS, ClassifierInfo, FastTextModel
from .normalize import DEFAULT_MAX_CHARS, NORMALIZER_VERSION, normalize_text
from .records import SourceSpec, get_field, iter_source, parse_source, record_lang, record_text


@dataclass
class TrainConfig:
    """fastText supervised settings. wordNgrams>=2 avoids the intermittent NaN of the numpy2 wheel with 1;
    char n-grams (minn/maxn) are what make unsegmented Chinese work."""

    dim: int = 32
    epoch: int = 10
    lr: float = 0.5
    wordNgrams: int = 2  # noqa: N815 (fastText's own name)
    minn: int = 2
    maxn: int = 3  # 2-3 char n-grams: Chinese bigrams/trigrams; 4 was no better and slower
    bucket: int = 500_000
    minCount: int = 1  # noqa: N815
    thread: int = 1  # one thread: training is reproducible for a given seed
    seed: int = 0
    quantize: bool = True
    cutoff: int = 50_000
    retrain: bool = False  # retraining while quantising tripled training time for no held-out gain
    # small training sets underfit in `epoch` passes (held-out F1 0.24 on 500 lines at 5 epochs vs 0.97 at
    # 20): the epoch count is raised until the model has seen this many examples, up to max_epoch
    min_example_passes: int = 50_000
    max_epoch: int = 50
    test_split: float = 0.1
    chunk_chars: int = 1000
    min_chars: int = 80
    max_chunks_per_doc: int = 20
    balance: bool = True  # oversample the minority class per language in the training split
    max_chars: int = DEFAULT_MAX_CHARS
    length_token: bool = False  # add a document-length token (see normalize_text)

    def fasttext_args(self, n_examples: int | None = None) -> dict[str, Any]:
        keys = ("dim", "epoch", "lr", "wordNgrams", "minn", "maxn", "bucket", "minCount", "thread", "seed")
        args = {k: getattr(self, k) for k in keys}
        if n_examples:
            args["epoch"] = self.effective_epoch(n_examples)
        return args

    def effective_epoch(self, n_examples: int) -> int:
        need = -(-self.min_example_passes // max(1, n_examples))
        return max(self.epoch, min(self.max_epoch, need))


@dataclass
class Example:
    text: str  # normalised
    label: bool
    lang: str
    group: str


@dataclass
class TrainResult:
    model_dir: Path
    report: dict[str, Any]
    artifact_ref: str | None = None
    data_refs: list[str] = field(default_factory=list)


def chunk_text(text: str, chunk_chars: int, min_chars: int) -> list[str]:
    """Greedy paragraph packing up to ``chunk_chars``; over-long paragraphs are cut at whitespace."""
    chunks, cur = [], ""
    for para in (p.strip() for p in text.split("\n")):
        if not para:
            continue
        while len(para) > chunk_chars:
            cut = para.rfind(" ", chunk_chars // 2, chunk_chars)
            cut = cut if cut > 0 else chunk_chars
            if cur:
                chunks.append(cur)
                cur = ""
            chunks.append(para[:cut])
            para = para[cut:].strip()
        if cur and len(cur) + len(para) + 1 > chunk_chars:
            chunks.append(cur)
            cur = ""
        cur = f"{cur}\n{para}" if cur else para
    if cur:
        chunks.append(cur)
    return [c for c in chunks if len(c) >= min_chars]


def _spread(items: list[str], k: int) -> list[str]:
    if len(items) <= k:
        return items
    idx = np.linspace(0, len(items) - 1, k).round().astype(int)
    return [items[i] for i in sorted(set(idx.tolist()))]


def collect_examples(specs: Sequence[str | SourceSpec], label: bool, cfg: TrainConfig, store=None,
                     counts: Counter | None = None) -> list[Example]:
    out: list[Example] = []
    counts = counts if counts is not None else Counter()
    for spec in specs:
        for where, rec in iter_source(spec, store):
            text = record_text(rec, where)
            counts["records"] += 1
            group = str(get_field(rec, "meta.group") or rec.get("id") or where)
            lang = record_lang(rec, text)
            chunks = chunk_text(text, cfg.chunk_chars, cfg.min_chars)
            if not chunks:
                counts["dropped_too_short"] += 1
                continue
            for c in _spread(chunks, cfg.max_chunks_per_doc):
                out.append(Example(normalize_text(c, cfg.max_chars, cfg.length_token), label, lang, group))
    return out


def split_examples(examples: list[Example], test_split: float, seed: int) -> tuple[list[Example], list[Example]]:
    def is_test(group: str) -> bool:
        h = int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()[:8], 16)
        return h / 0xFFFFFFFF < test_split

    train, test = [], []
    for ex in examples:
        (test if is_test(ex.group) else train).append(ex)
    return train, test


def balance(train: list[Example], seed: int) -> list[Example]:
    rng = random.Random(seed)
    by: dict[tuple[str, bool], list[Example]] = defaultdict(list)
    for ex in train:
        by[(ex.lang, ex.label)].append(ex)
    out = list(train)
    for lang in sorted({k[0] for k in by}):  # sorted: a set of str iterates in a per-process hash order
        pos, neg = by[(lang, True)], by[(lang, False)]
        if not pos or not neg:
            continue
        small, big = (pos, neg) if len(pos) < len(neg) else (neg, pos)
        out += [rng.choice(small) for _ in range(len(big) - len(small))]
    rng.shuffle(out)
    return out


def fit_fasttext(train: list[Example], cfg: TrainConfig, out_path: Path) -> Path:
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.txt"
        with open(data, "w", encoding="utf-8") as f:
            for ex in train:
                f.write(f"{POS if ex.label else NEG} {ex.text}\n")
        model = fasttext.train_supervised(input=str(data), verbose=0, **cfg.fasttext_args(len(train)))
        if cfg.quantize:
            model.quantize(input=str(data), qnorm=True, retrain=cfg.retrain, cutoff=cfg.cutoff, thread=cfg.thread,
                           verbose=0)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        model.save_model(str(out_path))  # .ftz name either way: fastText reads the format from the header
    return out_path


def evaluate(model: FastTextModel, test: list[Example]) -> dict[str, Any]:
    y = np.array([ex.label for ex in test], dtype=bool)
    p = model.predict_normalized([ex.text for ex in test])
    report: dict[str, Any] = {"overall": binary_report(y, p), "per_language": {}, "thresholds": {}}
    langs = np.array([ex.lang for ex in test])
    for lang in sorted(set(langs.tolist())):
        sel = langs == lang
        report["per_language"][lang] = binary_report(y[sel], p[sel])
        report["thresholds"][lang] = best_f1_threshold(y[sel], p[sel])
    return report


def train_classifier(name: str, positives: Sequence[str], negatives: Sequence[str], out_dir: str | Path,
                     cfg: TrainConfig | None = None, store=None, register: bool = True, text_field: str | None = None,
                     log: Callable[[str], None] = lambda s: None) -> TrainResult:
    """The whole recipe; with a store, file inputs are first imported as versions (complete lineage)."""
    cfg = cfg or TrainConfig()
    out_dir = Path(out_dir)
    pos_specs, neg_specs, data_refs = list(positives), list(negatives), []
    if store is not None:
        pos_specs, refs_p = _as_versions(store, f"{name}-train-positive", pos_specs, text_field)
        neg_specs, refs_n = _as_versions(store, f"{name}-train-negative", neg_specs, text_field)
        data_refs = sorted(set(refs_p + refs_n))
    counts: Counter = Counter()
    log("reading positives")
    examples = collect_examples(pos_specs, True, cfg, store, counts)
    log("reading negatives")
    examples += collect_examples(neg_specs, False, cfg, store, counts)
    if not any(e.label for e in examples) or all(e.label for e in examples):
        raise ValueError(f"classifier {name}: need both positive and negative examples, got {len(examples)} "
                         f"examples ({sum(e.label for e in examples)} positive)")
    train, test = split_examples(examples, cfg.test_split, cfg.seed)
    if not test:
        raise ValueError(f"classifier {name}: the held-out split is empty (test_split={cfg.test_split}); "
                         "give more documents or a larger --test-split")
    fit_set = balance(train, cfg.seed) if cfg.balance else train
    log(f"training on {len(fit_set)} examples ({len(train)} before balancing), testing on {len(test)}")
    model_path = fit_fasttext(fit_set, cfg, out_dir / MODEL_FILE)
    info = ClassifierInfo(name=name, normalizer_version=NORMALIZER_VERSION, max_chars=cfg.max_chars,
                          length_token=cfg.length_token)
    _write_json(out_dir / "classifier.json", asdict(info))
    model = FastTextModel(model_path)
    report = evaluate(model, test)
    info.thresholds = report["thresholds"]
    info.extra = {"config": asdict(cfg)}
    _write_json(out_dir / "classifier.json", asdict(info))
    report.update({
        "name": name, "config": asdict(cfg), "model_bytes": model_path.stat().st_size,
        "sources": {"positive": [str(s) for s in pos_specs], "negative": [str(s) for s in neg_specs]},
        "data": {"records": counts["records"], "dropped_too_short": counts["dropped_too_short"],
                 "train_examples": len(train), "fit_examples": len(fit_set), "test_examples": len(test),
                 "epochs_run": cfg.effective_epoch(len(fit_set)),
                 "per_language": _lang_counts(train, test)},
    })
    _write_json(out_dir / "report.json", report)
    result = TrainResult(out_dir, report, data_refs=data_refs)
    if store is not None and register:
        metrics = {"overall": report["overall"], "per_language": report["per_language"]}
        recipe = {"op": "train-classifier", "positive": [str(s) for s in pos_specs],
                  "negative": [str(s) for s in neg_specs], "config": asdict(cfg)}
        m = store.artifacts.register(name, "classifier", out_dir, parents=data_refs, metrics=metrics, recipe=recipe)
        result.artifact_ref = m.ref
    return result


def _as_versions(store, name: str, specs: list[str], text_field: str | None) -> tuple[list[SourceSpec], list[str]]:
    """Catalog refs are pinned to their version; each plain file is imported once as a doc version named
    ``<name>-<file stem>`` so the classifier's lineage reaches the exact training bytes."""
    import re

    from catalogs.importer import import_files

    out: list[SourceSpec] = []
    for s in (parse_source(x) for x in specs):
        if s.is_file:
            stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(s.target).name.split(".")[0]).strip("-.") or "file"
            m = import_files(store, f"{name}-{stem}"[:128], "doc", [s.target], text_field=text_field,
                             recipe={"op": "import", "files": [Path(s.target).name], "for": "train-classifier"})
        else:
            m = store.resolve(s.target)
        out.append(SourceSpec(m.ref, s.field, s.value))
    return out, [s.target for s in out]


def _lang_counts(train: list[Example], test: list[Example]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for split, exs in (("train", train), ("test", test)):
        for ex in exs:
            out[ex.lang][f"{split}_{'pos' if ex.label else 'neg'}"] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
