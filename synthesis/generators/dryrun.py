"""`huijin synth run RECIPE --dry-run`: what a run would ask the teacher, and what it would cost, before
spending anything.

The recipe's generator runs as usual up to its first teacher call, against a stand-in client that records the
requests (exactly as ``TeacherClient.prepare`` would send them: model, messages, sampling parameters, tools,
response format) and answers each with a failure, so nothing is sent, nothing is kept and no version is
written (outputs go to a throw-away store). Each request is then priced with the endpoint's ``price``:

- input tokens are estimated from the serialized request (messages, tools, schema) at ~4 characters per
  token (no tokenizer of the teacher's model is available offline; the estimate says so);
- output tokens are bounded by the request's ``max_tokens`` (the most a reply may cost);
- a request whose reply is already in the store's teacher cache costs nothing and is counted apart.

Generators that ask in several rounds (a judge after generation, evolution steps, parse retries) shape later
rounds from the replies: what is counted is what they ask when no reply comes back, and the report says so.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .context import RunContext, SynthRecipeError
from .records import Outputs
from .runner import GENERATORS, TEACHER_FREE, _ReadKeys, load_recipe

if TYPE_CHECKING:
    from catalogs import Store

CHARS_PER_TOKEN = 4.0
SAMPLE_REQUESTS = 3


class _Recorder:
    """Stands in for ``TeacherClient``: records every request, answers none."""

    def __init__(self, endpoint: Any, cache_path: Path | None) -> None:
        from synthesis.teachers import Accounting, TeacherClient

        self.endpoint = endpoint
        self.accounting = Accounting()
        self.last_error = ""
        self.requests: list[tuple[str, Any]] = []  # (title, Request)
        # the real client's request preparation (hash, wire kwargs); no network is touched by prepare()
        self._client = TeacherClient(endpoint, cache=None)
        self._cache = cache_path if cache_path is not None and cache_path.is_file() else None

    def run(self, requests: list[Any], progress: bool = False, title: str = "teacher") -> list[Any]:
        from synthesis.teachers.types import Reply

        out = []
        for r in requests:
            self.requests.append((title, r))
            key, _, _ = self._client.prepare(r)
            out.append(Reply(request_id=r.id, request_hash=key, teacher=self.endpoint.label,
                             error="dry run: not sent", meta=dict(r.meta)))
        return out

    def estimate(self) -> dict[str, Any]:
        from synthesis.teachers.cache import BUDGET_PARAMS, RequestCache

        cache = RequestCache(self._cache) if self._cache else None
        rows, by_title, samples = [], Counter(), []
        for title, r in self.requests:
            key, _, kwargs = self._client.prepare(r)
            sent = {k: v for k, v in kwargs.items() if k != "model"}
            tin = max(1, round(len(json.dumps(sent, ensure_ascii=False, default=str)) / CHARS_PER_TOKEN))
            budget = next((kwargs.get(k) or kwargs.get("extra_body", {}).get(k) for k in BUDGET_PARAMS
                           if kwargs.get(k) or kwargs.get("extra_body", {}).get(k)), None)
            cached = bool(cache is not None and cache.get(key, budget) is not None)
            rows.append((tin, budget, cached))
            by_title[title] += 1
            if len(samples) < SAMPLE_REQUESTS:
                samples.append({"title": title, "messages": kwargs["messages"],
                                "params": {k: v for k, v in kwargs.items() if k not in ("model", "messages")}})
        fresh = [(tin, budget) for tin, budget, cached in rows if not cached]
        tin = sum(t for t, _ in fresh)
        tout = sum(b for _, b in fresh if b)
        unbounded = sum(1 for _, b in fresh if not b)
        price = self.endpoint.price
        return {
            "endpoint": self.endpoint.name, "model": self.endpoint.model, "requests": len(rows),
            "cached": len(rows) - len(fresh), "to_send": len(fresh), "by_step": dict(by_title),
            "input_tokens_est": tin, "output_tokens_max": tout, "requests_without_max_tokens": unbounded,
            "cost_usd_input_est": round(price.cost(tin, 0), 6), "cost_usd_max": round(price.cost(tin, tout), 6),
            "price_per_million": {"input": price.input, "output": price.output},
            "chars_per_token": CHARS_PER_TOKEN, "samples": samples,
        }


def dry_run(recipe: str | Path | dict[str, Any], store: Store, name: str | None = None, limit: int | None = None,
            endpoint: str | None = None, seed: int | None = None, teachers_file: str | Path | None = None,
            overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The first round of teacher requests a run would make, with estimated tokens and cost; nothing is sent
    and nothing is written to ``store``."""
    data, rname = load_recipe(recipe)
    data = _ReadKeys(data, **(overrides or {}))
    gen_name = data.get("generator")
    if gen_name not in GENERATORS:
        raise SynthRecipeError(f"recipe {rname!r}: unknown generator {gen_name!r}; one of {sorted(GENERATORS)}")
    report: dict[str, Any] = {"recipe": rname, "generator": gen_name, "teacher_free": gen_name in TEACHER_FREE}
    if gen_name in TEACHER_FREE:
        report.update(requests=0, to_send=0, cost_usd_max=0.0,
                      note="this recipe asks no teacher: a run costs nothing but local CPU")
        return report
    if endpoint is None:
        raise SynthRecipeError(f"recipe {rname!r} needs a teacher endpoint: pass --endpoint NAME (endpoints are "
                               "listed in recipes/teachers.yaml)")
    import importlib

    from synthesis.teachers import get_endpoint

    ep = get_endpoint(endpoint, teachers_file)  # the entry and its price; its key is not needed to count
    cache = Path(data.get("cache") or Path(store.root) / "cache" / "teacher.sqlite")
    recorder = _Recorder(ep, cache)
    module = importlib.import_module(f"{__package__}.{GENERATORS[gen_name]}")
    with tempfile.TemporaryDirectory(prefix="huijin-dry-run-") as tmp:
        from catalogs import Store as _Store

        scratch = _Store.open(Path(tmp) / "store")  # outputs are opened here and never committed
        try:
            with Outputs(scratch, {**data, "name": rname}, [], {}) as outs:
                ctx = RunContext(store, data, rname, outs, name=name, limit=limit,
                                 seed=int(seed if seed is not None else data.get("seed", 0)),
                                 teacher_factory=lambda: recorder, progress=None, show_progress=False)
                module.generate(ctx)
                raise _Stop
        except _Stop:
            pass
        except SynthRecipeError as e:
            if not recorder.requests:
                raise
            report["stopped"] = str(e)  # e.g. "kept no row": expected, every reply was a failure
    report.update(recorder.estimate())
    report["note"] = ("requests the generator makes when no reply comes back; where it asks again from the "
                      "replies (a judge after generation, evolution steps, parse retries) a real run may differ")
    return report


class _Stop(Exception):
    """Leaves the outputs' context with an exception, so nothing is committed."""
