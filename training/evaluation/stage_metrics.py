"""Stage metrics: what each training stage targets, measured on held-out catalog versions, each with n and a
95% bootstrap interval.

    metrics:
      bpb_finance:  {kind: bpb,     version: demo-fin-heldout@1}      # CPT: knowledge of finance text
      bpb_general:  {kind: bpb,     version: demo-general-heldout@1}  # …without forgetting general text
      numeric_acc:  {kind: reward,  version: demo-rl-heldout@1}       # SFT / reasoning RL
      tool_success: {kind: agentic, version: demo-agentic-heldout@1}  # agentic RL
      general_score: {kind: reward, version: demo-general-rl-heldout@1}  # general RL (judge / rubric specs)
      numeric_by_kind: {kind: reward, version: demo-rl-heldout@1, by: template}  # + a row per meta.template

* ``bpb``: bits per byte, Σ token NLL / (ln 2 · Σ UTF-8 bytes) — tokenizer-independent, so two tokenizers
  compare. Every token is predicted (a BOS is prepended when the tokenizer has one); long documents are scored
  in non-overlapping windows of the model's context.
* ``reward``: one greedy completion per held-out ``rl`` record, scored by the stage's own reward path
  (``training.rl.rewards.score_samples`` → ``synthesis.rewards.score``, or the judge for ``judge`` specs).
* ``agentic``: one greedy episode per held-out agentic record in its tool environment, rewarded by ``tool_env``.

The rollouts are the RL stages' own (``training.rl.rollout`` / ``training.rl.agentic``) at temperature 0, so a
metric and the reward a stage optimises cannot drift apart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .stats import Estimate, bootstrap_ci

KINDS = ("bpb", "reward", "agentic")
LOWER_IS_BETTER = {"bpb"}


class MetricError(ValueError):
    pass


def check_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Validate ``{name: {kind, version, limit?, max_new_tokens?, by?}}`` before anything is loaded."""
    if not isinstance(metrics, dict) or not metrics:
        raise MetricError("stage_metrics must be a mapping of metric name → {kind, version}")
    out = {}
    for name, m in metrics.items():
        if not isinstance(m, dict) or m.get("kind") not in KINDS or not m.get("version"):
            raise MetricError(f"stage metric {name!r}: needs kind (one of {', '.join(KINDS)}) and version, got {m!r}")
        if "by" in m and not (isinstance(m["by"], str) and m["by"]):
            raise MetricError(f"stage metric {name!r}: 'by' names one record field (a column or a meta key), "
                              f"got {m['by']!r}")
        if m.get("by") == "lang":
            raise MetricError(f"stage metric {name!r}: 'by: lang' is not needed, metrics whose items span "
                              "languages get a row per language already")
        out[str(name)] = dict(m)
    return out


def bpb_per_doc(model, tok, texts: list[str], window: int = 512) -> list[tuple[float, int]]:
    """``(bits, bytes)`` per text under ``model`` (without a BOS the first token is not predicted: a tokenizer
    without one is slightly flattered, the same way at every stage)."""
    import torch

    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    out = []
    with torch.no_grad():
        for text in texts:
            ids = bos + tok(text, add_special_tokens=False)["input_ids"]
            nats = 0.0
            for lo in range(0, len(ids) - 1, window):  # non-overlapping windows; each target predicted once
                x = torch.tensor([ids[lo: lo + window + 1]])
                logits = model(input_ids=x[:, :-1], use_cache=False).logits.float()
                nats += float(torch.nn.functional.cross_entropy(logits[0], x[0, 1:], reduction="sum"))
            out.append((nats / math.log(2), len(text.encode("utf-8"))))
    return out


def _records(store, ref: str, limit: int | None) -> list[dict[str, Any]]:
    rows = list(store.iter_records(ref))
    return rows[:limit] if limit else rows


def _rollout_rewards(model, tok, records: list[dict[str, Any]], kind: str, m: dict[str, Any], store,
                     judge: Any = None) -> list[float | None]:
    from ..rl.rewards import score_samples
    from ..rl.rollout import GenConfig, single_turn_rollouts

    cfg = GenConfig(max_new_tokens=int(m.get("max_new_tokens", 64)), temperature=0.0,
                    max_turns=int(m.get("max_turns", 4)), max_total_tokens=int(m.get("max_total_tokens", 1024)))
    bs = int(m.get("batch_size", 16))
    rewards: list[float | None] = []
    for i in range(0, len(records), bs):
        batch = records[i:i + bs]
        if kind == "agentic":
            from ..rl.agentic import agentic_rollouts
            from ..rl.envs import env_factory

            samples = agentic_rollouts(model, tok, batch, 1, cfg, env_factory({}, store))
        else:
            samples = single_turn_rollouts(model, tok, batch, 1, cfg)
            score_samples(batch, samples, judge=judge)
        rewards += [s.reward for s in samples]
    return rewards


def evaluate_metrics(model_path: str | Path, store, metrics: dict[str, Any], progress: bool = False,
                     log: Callable[[str], None] | None = None, judge: Any = None) -> dict[str, dict[str, Any]]:
    """Every metric of ``metrics`` for the model at ``model_path``: ``{name: {value, ci, n, kind, version}}``.
    ``judge`` (a ``training.rl.rewards.JudgeReward``) scores ``judge`` specs; without one they are unscored."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    specs = check_metrics(metrics)
    tok = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32).eval()
    model.config.use_cache = True
    return evaluate_loaded(model, tok, store, specs, log=log, judge=judge)


def evaluate_live(model, tok, store, metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The same metrics on a model in the middle of training (``metrics_every``): evaluated in eval mode with
    the KV cache on, then put back as it was, with the torch RNG state restored, so that the training run
    computes exactly what it would have computed without the evaluation (tests/test_metric_curves.py)."""
    import torch

    was_training, cache = model.training, model.config.use_cache
    with torch.random.fork_rng(devices=[]):
        try:
            model.eval()
            model.config.use_cache = True
            return evaluate_loaded(model, tok, store, check_metrics(metrics))
        finally:
            model.train(was_training)
            model.config.use_cache = cache


def evaluate_loaded(model, tok, store, specs: dict[str, dict[str, Any]], log: Callable[[str], None] | None = None,
                   judge: Any = None) -> dict[str, dict[str, Any]]:
    """``evaluate_metrics`` on a loaded model (``specs`` already checked)."""
    out: dict[str, dict[str, Any]] = {}
    for name, m in specs.items():
        ref = store.resolve(m["version"]).ref
        recs = _records(store, ref, m.get("limit"))
        if m["kind"] == "bpb":
            window = int(m.get("window") or getattr(model.config, "max_position_embeddings", 512) or 512)
            pairs = bpb_per_doc(model, tok, [r["text"] for r in recs], min(window, 2048))
            values, weights = [b / max(n, 1) for b, n in pairs], [max(n, 1) for _, n in pairs]
        else:
            values, weights = _rollout_rewards(model, tok, recs, m["kind"], m, store, judge), None
        est = bootstrap_ci(values, weights)
        out[name] = {**est.to_dict(), "kind": m["kind"], "version": ref,
                     **by_language(recs, values, weights), **by_field(recs, values, weights, m.get("by"))}
        if log:
            log(f"{name}: {_fmt(est)} on {ref}")
    return out


def by_language(recs: list[dict[str, Any]], values: list, weights: list | None) -> dict[str, Any]:
    """``{"by_lang": {lang: {value, ci, n}}}`` when the items are in more than one language (en and zh scored
    apart: a mean over both can hide one falling), else nothing."""
    langs = [str(r.get("lang") or "") or None for r in recs]
    if len(set(langs) - {None}) < 2:
        return {}
    return {"by_lang": _estimates_by_key(langs, values, weights)}


def _estimates_by_key(keys: list[str | None], values: list, weights: list | None) -> dict[str, Any]:
    """``{key: {value, ci, n}}`` over the items of each key (items whose key is None are left out)."""
    out = {}
    for key in sorted(set(keys) - {None}):
        idx = [i for i, k in enumerate(keys) if k == key]
        out[key] = bootstrap_ci([values[i] for i in idx], None if weights is None else [weights[i] for i in idx]).to_dict()
    return out


def by_field(recs: list[dict[str, Any]], values: list, weights: list | None, field: str | None) -> dict[str, Any]:
    """``{"by": {"field": F, "buckets": {value: {value, ci, n}}}}``: the metric per value of the record's column
    ``F``, else of its ``meta[F]`` (a question template, a taxonomy leaf): a skill that one stage teaches shows
    in its bucket before it moves the mean. Records without the field, or with an empty or non-scalar value, fall
    in the bucket ``"-"`` (the programmatic generator's imported questions have no ``template``)."""
    if not field:
        return {}
    keys: list[str | None] = [_field_value(r, field) for r in recs]
    return {"by": {"field": field, "buckets": _estimates_by_key(keys, values, weights)}}


def _field_value(rec: dict[str, Any], field: str) -> str:
    v = rec.get(field)
    if v is None:
        meta = rec.get("meta")
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError:
                meta = None
        v = meta.get(field) if isinstance(meta, dict) else None
    return str(v) if isinstance(v, (str, int, float, bool)) and str(v) != "" else "-"


def _fmt(e: Estimate) -> str:
    if e.value is None:
        return "n/a"
    return f"{e.value:.4f} [{e.ci[0]:.4f}, {e.ci[1]:.4f}] n={e.n}"
