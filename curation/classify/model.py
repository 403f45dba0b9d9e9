"""A trained fastText classifier on disk: ``model.ftz`` + ``classifier.json`` (name, labels, normaliser).

``FastTextModel`` loads lazily (once per process / datatrove worker, like datatrove's
FastTextClassifierFilter) and returns the probability of the positive class for a batch of texts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .normalize import DEFAULT_MAX_CHARS, NORMALIZER_VERSION, normalize_text

MODEL_FILE = "model.ftz"
META_FILE = "classifier.json"
POS, NEG = "__label__pos", "__label__neg"


@dataclass
class ClassifierInfo:
    name: str
    positive_label: str = POS
    normalizer_version: int = NORMALIZER_VERSION
    max_chars: int = DEFAULT_MAX_CHARS
    length_token: bool = False
    thresholds: dict[str, float] = field(default_factory=dict)  # suggested per language (best F1 on held-out)
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_model_path(spec: str | Path, store=None) -> Path:
    """A ``.ftz``/``.bin`` file, a folder holding ``model.ftz``, or an artifact ref (``fin-domain@1``)."""
    p = Path(spec)
    if p.is_dir():
        p = p / MODEL_FILE
    if p.is_file():
        return p
    if store is not None and not str(spec).endswith((".ftz", ".bin")):
        base = store.artifacts.path(str(spec))
        return base / MODEL_FILE if base.is_dir() else base
    raise FileNotFoundError(f"classifier model {spec}: no such file, folder or artifact ref")


def load_info(model_path: Path, name: str | None = None) -> ClassifierInfo:
    meta = model_path.parent / META_FILE
    if meta.exists():
        d = json.loads(meta.read_text(encoding="utf-8"))
        info = ClassifierInfo(**{k: d[k] for k in ClassifierInfo.__dataclass_fields__ if k in d})
        if name:
            info.name = name
        return info
    return ClassifierInfo(name=name or model_path.stem)


class FastTextModel:
    """Positive-class probabilities from a supervised fastText model, with the training-time normaliser."""

    def __init__(self, model_path: str | Path, name: str | None = None) -> None:
        self.path = Path(model_path)
        self.info = load_info(self.path, name)
        if self.info.normalizer_version != NORMALIZER_VERSION:
            raise ValueError(f"{self.path}: trained with normaliser v{self.info.normalizer_version}, "
                             f"this code has v{NORMALIZER_VERSION}; retrain the classifier")
        self._model = None

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText  # no deprecation banner, same object as load_model

            self._model = _FastText(str(self.path))
            if self.info.positive_label not in self._model.labels:
                raise ValueError(f"{self.path}: label {self.info.positive_label} not in model labels "
                                 f"{self._model.labels}")
        return self._model

    def normalize(self, text: str) -> str:
        return normalize_text(text, self.info.max_chars, self.info.length_token)

    def predict_normalized(self, lines: list[str]) -> np.ndarray:
        """P(positive) for already-normalised lines (one C++ call for the whole batch)."""
        if not lines:
            return np.zeros(0)
        labels, probs = self.model.predict(lines, k=-1)
        pos = self.info.positive_label
        out = np.empty(len(lines))
        for i, (ls, ps) in enumerate(zip(labels, probs, strict=True)):
            p = 0.0
            for label, prob in zip(ls, ps, strict=True):
                if label == pos:
                    p = float(prob)
                    break
            out[i] = min(max(p, 0.0), 1.0)
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.predict_normalized([self.normalize(t) for t in texts])

    def __getstate__(self) -> dict:  # datatrove pickles steps to workers: ship the path, not the model
        return {**self.__dict__, "_model": None}
