"""fastText classifiers for curation: training with a per-language held-out report, scoring as a
datatrove step (``curation.classify.step:ClassifierScoreFilter``) or over plain records."""

from .model import FastTextModel, resolve_model_path
from .normalize import normalize_text
from .train import TrainConfig, TrainResult, train_classifier

__all__ = ["FastTextModel", "TrainConfig", "TrainResult", "normalize_text", "resolve_model_path", "train_classifier"]
