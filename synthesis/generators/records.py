"""Building ``sft``/``rl`` records and writing them as catalog versions with provenance and full accounting.

``Outputs`` holds one catalog writer per output of a recipe (for example the ``rl`` tasks and the ``sft`` worked
solutions of the same run). Every input a generator looks at is counted once per output and ends up written,
dropped with a named reason, or quarantined with its error, so ``inputs = rows + dropped + quarantined``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import TYPE_CHECKING, Any

from catalogs.schemas import canonical_json, content_hash
from synthesis.rewards.score import validate_spec

if TYPE_CHECKING:
    from catalogs import Manifest, Store


def provenance(generator: str, recipe: str | None, teacher: str | None = None,
               request_hash: str | None = None) -> dict[str, str | None]:
    return {"generator": generator, "teacher": teacher, "request_hash": request_hash, "recipe": recipe}


def user(content: str) -> dict[str, Any]:
    return {"role": "user", "content": content}


def system(content: str) -> dict[str, Any]:
    return {"role": "system", "content": content}


def assistant(content: str | None, tool_calls: list[dict] | None = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": tool_calls}


def rl_record(prompt: list[dict], spec: dict[str, Any], taxonomy: str | None, lang: str, source: dict,
              meta: dict[str, Any] | None = None, tools: list | None = None, env: dict | None = None,
              difficulty: float | None = None) -> dict[str, Any]:
    validate_spec(spec)  # a bad spec is refused when its version is written, not found later in training
    rec = {"prompt": prompt, "reward_spec": canonical_json(spec), "taxonomy": taxonomy, "lang": lang,
           "source": source, "meta": canonical_json(meta or {}), "difficulty": difficulty,
           "tools": canonical_json(tools) if tools else None, "env": canonical_json(env) if env else None}
    rec["id"] = content_hash([prompt, rec["reward_spec"]])
    return rec


def sft_record(messages: list[dict], taxonomy: str | None, lang: str, source: dict,
               meta: dict[str, Any] | None = None, tools: list | None = None,
               quality: dict[str, float] | None = None) -> dict[str, Any]:
    rec = {"messages": messages, "taxonomy": taxonomy, "lang": lang, "source": source,
           "meta": canonical_json(meta or {}), "tools": canonical_json(tools) if tools else None, "quality": quality}
    rec["id"] = content_hash(messages)
    return rec


def pref_record(prompt: list[dict], chosen: list[dict], rejected: list[dict], scores: dict[str, float],
                taxonomy: str | None, lang: str, source: dict, meta: dict[str, Any] | None = None,
                margin: float | None = None) -> dict[str, Any]:
    """A preference pair: ``chosen`` and ``rejected`` are the completions (assistant turns) of ``prompt``;
    ``margin`` defaults to ``scores["chosen"] - scores["rejected"]``."""
    if margin is None and "chosen" in scores and "rejected" in scores:
        margin = float(scores["chosen"]) - float(scores["rejected"])
    rec = {"prompt": prompt, "chosen": chosen, "rejected": rejected, "scores": scores, "margin": margin,
           "taxonomy": taxonomy, "lang": lang, "source": source, "meta": canonical_json(meta or {})}
    rec["id"] = content_hash([prompt, chosen, rejected])
    return rec


class Output:
    """One output version: a catalog writer plus the ids already written (exact duplicates are dropped)."""

    def __init__(self, writer: Any) -> None:
        self.w = writer
        self.seen: set[str] = set()
        self.drops: Counter[str] = Counter()
        self.inputs = 0
        self.kept = 0
        self.quarantined = 0

    def consider(self, n: int = 1) -> None:
        """Count ``n`` inputs looked at for this output."""
        self.inputs += n
        self.w.add_inputs(n)

    def keep(self, record: dict[str, Any]) -> bool:
        if record["id"] in self.seen:
            self.drop("exact_duplicate")
            return False
        self.seen.add(record["id"])
        self.w.write(record)
        self.kept += 1
        return True

    def drop(self, reason: str, n: int = 1) -> None:
        self.drops[reason] += n
        self.w.count_drop(reason, n)

    def quarantine(self, reason: str, file: str = "", offset: int | None = None, record: Any = None) -> None:
        self.quarantined += 1
        self.w.quarantine(reason, file=file, offset=offset, record=record)

    def summary(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "kept": self.kept, "dropped": dict(self.drops),
                "quarantined": self.quarantined}


class Outputs:
    """``with Outputs(store, recipe) as out: out.open("rl", "fin-rl", "rl"); out["rl"].keep(rec)``."""

    def __init__(self, store: Store, recipe: dict[str, Any], parents: list[str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.store, self.recipe = store, recipe
        self.parents = list(parents or [])
        self.extra = extra or {}
        self._stack = contextlib.ExitStack()
        self._outs: dict[str, Output] = {}
        self._writers: dict[str, Any] = {}
        self.manifests: dict[str, Manifest] = {}

    def open(self, key: str, name: str, kind: str, parents: list[str] | None = None) -> Output:
        w = self._stack.enter_context(self.store.writer(
            name, kind=kind, parents=parents if parents is not None else self.parents,
            recipe=self.recipe, extra=self.extra))
        self._writers[key] = w
        self._outs[key] = Output(w)
        return self._outs[key]

    def __getitem__(self, key: str) -> Output:
        return self._outs[key]

    def __contains__(self, key: str) -> bool:
        return key in self._outs

    def keys(self) -> list[str]:
        return list(self._outs)

    def set_extra(self, key: str | None = None, **values: Any) -> None:
        """Add fields to the manifests' ``extra`` (all outputs, or one) before they are committed."""
        for k, w in self._writers.items():
            if key is None or k == key:
                w.extra.update(values)

    def __enter__(self) -> Outputs:
        self._stack.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)
        if exc[0] is None:
            self.manifests = {k: w.manifest for k, w in self._writers.items()}
