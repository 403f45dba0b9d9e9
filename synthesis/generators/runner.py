"""Run a synthesis recipe: load the YAML, pick its generator, write its output versions, report what happened.

    from synthesis.generators import run_recipe
    m = run_recipe("programmatic_tables", store, name="demo-rl", limit=200)      # no teacher needed
    m = run_recipe("recipes/synthesis/grounded_sft.yaml", store, endpoint="vllm-local")

A recipe is a YAML mapping with ``generator`` (a key of ``GENERATORS``), ``outputs`` (output key → version
name), and the generator's own settings. ``endpoint`` may be a name in ``recipes/teachers.yaml``, an
``Endpoint`` or a ready ``TeacherClient``; recipes that need no teacher ignore it.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from recipes import recipes_dir

from .context import RunContext, SynthRecipeError
from .records import Outputs

if TYPE_CHECKING:
    from catalogs import Manifest, Store

RECIPES_DIR = recipes_dir("synthesis")


# generator name → module of this package; modules are imported only when their recipe runs, so that
# `huijin --help` and the programmatic recipes never import the teacher stack
GENERATORS = {
    "programmatic_tables": "programmatic", "agentic_tasks": "agentic_tasks", "grounded_sft": "grounded",
    "evolution": "evolution", "advisory_dialogues": "dialogues", "rejection_sampling": "rejection",
    "authored_rl": "authored", "agentic_sft": "agentic_sft", "judge_filter": "judge_filter",
    "annotate": "annotate_docs", "business_scenarios": "scenarios",
    "role_dialogues": "role_dialogues", "judge_pairs": "judge_pairs", "onpolicy_pairs": "onpolicy_pairs",
}


# recipes that run with no endpoint
TEACHER_FREE = {"programmatic_tables", "agentic_tasks", "business_scenarios", "onpolicy_pairs"}
ALWAYS_KNOWN = {"name", "generator", "post", "description"}  # keys for the runner, the CLI and people


class _ReadKeys(dict):
    """The recipe as generators see it, remembering which top-level keys were read: a key nobody read is a
    typo (``per_tabel``) or belongs to another generator, and the run says so instead of ignoring it silently."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.read: set[str] = set()

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(key)
        return super().__contains__(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self.read.add(key)
        return super().pop(key, *default)

    def unread(self) -> list[str]:
        return sorted(str(k) for k in self if k not in self.read and k not in ALWAYS_KNOWN)


@dataclass
class RunReport:
    recipe: str
    generator: str
    manifests: dict[str, Manifest]
    outputs: dict[str, dict[str, Any]]
    coverage: dict[str, dict[str, int]]
    teacher: dict[str, Any] | None = None
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    recipe_data: dict[str, Any] = field(default_factory=dict)
    primary_key: str = ""  # the output `run_recipe` returns (the first output the generator opened by default)
    unused_keys: list[str] = field(default_factory=list)  # recipe keys this run never read (typos, other generators')

    @property
    def primary(self) -> Manifest:
        return self.manifests[self.primary_key]

    def rows(self) -> list[dict[str, Any]]:
        """One summary row per output: version, inputs, kept, dropped, quarantined, acceptance rate."""
        out = []
        for k, s in self.outputs.items():
            m = self.manifests.get(k)
            dropped = sum(s["dropped"].values())
            out.append({"output": k, "version": m.ref if m else None, "inputs": s["inputs"], "kept": s["kept"],
                        "dropped": dropped, "quarantined": s["quarantined"],
                        "acceptance": round(s["kept"] / s["inputs"], 4) if s["inputs"] else None,
                        "drop_reasons": s["dropped"]})
        return out


def load_recipe(recipe: str | Path | dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A recipe dict, a YAML path, or the name of a file in ``recipes/synthesis/`` → (recipe, name)."""
    if isinstance(recipe, dict):
        data = dict(recipe)
        return data, str(data.get("name") or data.get("generator") or "recipe")
    p = Path(recipe)
    if not p.is_file():
        cand = RECIPES_DIR / (p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml")
        if not cand.is_file():
            known = sorted(x.stem for x in RECIPES_DIR.glob("*.yaml"))
            raise SynthRecipeError(f"no recipe {str(recipe)!r} (not a file, not one of {known})")
        p = cand
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SynthRecipeError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise SynthRecipeError(f"{p}: a recipe is a YAML mapping")
    return data, str(data.get("name") or p.stem)


def teacher_factory(endpoint: Any, store: Store, recipe: dict[str, Any], teachers_file: str | Path | None = None,
                    regenerate: tuple[str, ...] = (), retry_failed: str = "transient"):
    if endpoint is None:
        return None

    def make():
        from synthesis.teachers import Endpoint, TeacherClient, get_endpoint

        if isinstance(endpoint, TeacherClient):
            return endpoint
        ep = endpoint if isinstance(endpoint, Endpoint) else get_endpoint(str(endpoint), teachers_file)
        cache = recipe.get("cache") or Path(store.root) / "cache" / "teacher.sqlite"
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        return TeacherClient(ep, cache=cache, regenerate=regenerate, retry_failed=retry_failed)

    return make


def run(recipe: str | Path | dict[str, Any], store: Store, name: str | None = None, limit: int | None = None,
        endpoint: Any = None, seed: int | None = None, teachers_file: str | Path | None = None,
        progress: bool = False, overrides: dict[str, Any] | None = None,
        regenerate: tuple[str, ...] = (), retry_failed: str = "transient") -> RunReport:
    """Run a recipe and return the report (manifests of every output, counts, coverage, teacher accounting).

    Failed teacher rows cached by an earlier run are asked again per ``retry_failed`` (transient | all | none,
    see ``TeacherClient``). A run in which the teacher was asked and every request failed raises
    ``AllRequestsFailed`` and commits no version."""
    data, rname = load_recipe(recipe)
    data = _ReadKeys(data, **(overrides or {}))
    gen_name = data.get("generator")
    if gen_name not in GENERATORS:
        raise SynthRecipeError(f"recipe {rname!r}: unknown generator {gen_name!r}; one of {sorted(GENERATORS)}")
    module = importlib.import_module(f"{__package__}.{GENERATORS[gen_name]}")
    t0 = time.time()
    parents = list(data.get("parents") or [])
    for key in ("input", "tasks", "docs"):
        if data.get(key):
            parents.append(store.resolve(str(data[key])).ref)
    if gen_name not in TEACHER_FREE:  # fail before any work (and before the progress line), not mid-run
        if endpoint is None:
            raise SynthRecipeError(f"recipe {rname!r} needs a teacher endpoint: pass --endpoint NAME (endpoints are "
                              "listed in recipes/teachers.yaml)")
        if isinstance(endpoint, str):
            from synthesis.teachers import get_endpoint
            from synthesis.teachers.preflight import preflight

            preflight(get_endpoint(endpoint, teachers_file))  # unknown endpoint, unset key, server down: stop now
    factory = teacher_factory(endpoint, store, data, teachers_file, regenerate, retry_failed)
    extra = {"synthesis": {"recipe": rname, "generator": gen_name, "seed": seed if seed is not None
                           else data.get("seed", 0), "limit": limit}}
    live_bar = progress and gen_name in TEACHER_FREE  # teacher recipes show the client's live line instead
    with _progress(live_bar, rname) as tick, Outputs(store, {**data, "name": rname}, parents, extra) as outs:
        ctx = RunContext(store, data, rname, outs, name=name, limit=limit,
                         seed=int(seed if seed is not None else data.get("seed", 0)), teacher_factory=factory,
                         progress=tick, show_progress=progress and not live_bar)
        module.generate(ctx)
        teacher = ctx._teacher.accounting.to_dict() if ctx._teacher is not None else None
        if ctx._teacher is not None and ctx._teacher.accounting.all_failed():  # raised inside: nothing committed
            raise AllRequestsFailed(_all_failed_message(rname, ctx._teacher))
        summaries = {k: outs[k].summary() for k in outs.keys()}
        if summaries and not any(x["kept"] for x in summaries.values()):  # raised inside: nothing committed
            raise EmptyRun(_empty_message(rname, summaries, ctx._teacher))
        coverage = {k: dict(outs._writers[k].stats.get("taxonomy", {})) for k in outs.keys()}
        for k in outs.keys():
            outs.set_extra(k, counts=summaries[k], coverage=coverage[k], stats=ctx.stats,
                           **({"teacher": teacher} if teacher else {}))
    primary = ctx.primary if ctx.primary in outs.manifests else next(iter(outs.manifests))
    unused = data.unread()  # before anything copies the recipe
    report = RunReport(rname, gen_name, outs.manifests, summaries, coverage, teacher, time.time() - t0, ctx.stats,
                       dict(data), primary, unused)
    return report


class AllRequestsFailed(SynthRecipeError):
    """Every teacher request of a run failed (endpoint down, every row refused): no version is written."""


class EmptyRun(SynthRecipeError):
    """No output of a run kept a single row: no empty version is committed; the message gives the drop reasons."""


def _empty_message(rname: str, summaries: dict[str, dict[str, Any]], client: Any) -> str:
    parts = []
    for k, x in summaries.items():
        why = ", ".join(f"{r} ×{n}" for r, n in sorted(x["dropped"].items(), key=lambda kv: -kv[1])[:5])
        q = f", {x['quarantined']} quarantined" if x.get("quarantined") else ""
        parts.append(f"{k}: {x['inputs']} inputs, 0 kept ({why or 'nothing dropped: no input'}{q})")
    last = str(getattr(client, "last_error", "") or "")[:200] if client is not None else ""
    return (f"recipe {rname!r} kept no row, so no version was written — " + "; ".join(parts)
            + (f"; last teacher error: {last}" if last else ""))


def _all_failed_message(rname: str, client: Any) -> str:
    t = client.accounting.total()
    errors = ", ".join(f"{k} ×{v}" for k, v in t.errors.most_common(3))
    last = str(getattr(client, "last_error", "") or "")[:300]
    why = "; ".join(x for x in (errors, f"e.g. {last}" if last else "") if x) or "see the cache for each reason"
    ep = getattr(client, "endpoint", None)
    where = f" at {ep.name!r} ({ep.base_url})" if ep is not None else ""
    again = ("some failures came from the cache: --retry-failed all asks those rows again" if t.cached_failed
             else "fix the endpoint and run again: rows that failed for want of an endpoint are asked again")
    return f"recipe {rname!r}: all {t.replies + t.cached} teacher requests{where} failed ({why}); no version written — {again}"


def run_recipe(recipe: str | Path | dict[str, Any], store: Store, name: str | None = None,
               limit: int | None = None, endpoint: Any = None, **kw: Any) -> Manifest:
    """Run a recipe; returns the manifest of its primary output (``run`` gives the full report)."""
    return run(recipe, store, name=name, limit=limit, endpoint=endpoint, **kw).primary


class _progress:
    """A rich progress line (rows kept, rate) when asked for; a no-op callable otherwise."""

    def __init__(self, enabled: bool, title: str) -> None:
        self.enabled, self.title = enabled, title
        self._p = None

    def __enter__(self):
        if not self.enabled:
            return lambda n=1: None
        from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._p = Progress(SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(),
                           TimeElapsedColumn(), transient=False)
        self._p.__enter__()
        task = self._p.add_task(self.title, total=None)
        return lambda n=1: self._p.advance(task, n)

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)
