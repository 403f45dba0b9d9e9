"""`huijin curate run|extract|dedup`: curation recipes and single verbs (work lives in curation/)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .apps import curate
from .common import JsonOpt, StoreOpt, console, fail, open_store, print_json, print_table

InputOpt = typer.Option(..., "--input", "-i", help="files, folders or catalog refs (name@N); repeat or comma-separate")


def _inputs(values: list[str]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


def _languages(value: str | None) -> list[str] | None:
    """``--languages en,zh`` → codes, each one the language identifier knows (exit 2 on an unknown code)."""
    if value is None:
        return None
    from finance.text import _identifier, normalize_lang

    codes = [normalize_lang(c) for c in value.split(",") if c.strip()]
    if not codes:
        fail("--languages: no language codes given (e.g. en,zh)", code=2)
    known = {normalize_lang(c) for c in _identifier().nb_classes}
    bad = [c for c in codes if c not in known]
    if bad:
        fail(f"--languages: unknown language code(s) {', '.join(bad)}; use ISO 639-1 codes the identifier knows "
             f"(e.g. {', '.join(c for c in ('en', 'zh', 'ja', 'de', 'fr') if c in known)})", code=2)
    return codes


def _message(e: BaseException) -> str:
    """Never a blank ``error:``: an exception without text is named by its type."""
    return str(e).strip() or f"{type(e).__name__} (no message)"


def _summary_table(s: dict, title: str) -> None:
    rows = [{"what": "in", "count": s["inputs"]}, {"what": "kept", "count": s["kept"]}]
    rows += [{"what": f"dropped {k}", "count": v} for k, v in s["drops"].items()]
    rows += [{"what": f"quarantined {k}", "count": v} for k, v in s["quarantine"].items()]
    rows.append({"what": "docs/s", "count": s["docs_per_s"]})
    print_table(rows, ["what", "count"], title=title)


def _explain_quarantine(entries: list[dict], inputs: int, kept: int, where: str = "") -> None:
    """Name the first quarantined inputs (file:offset reason), and hint at --text-field when nothing had text."""
    from .common import err_console

    for q in entries[:3]:
        err_console.print(f"quarantined {q.get('file')}:{q.get('offset')}  {q.get('reason')}", highlight=False)
    if len(entries) > 3:
        err_console.print(f"... {len(entries) - 3} more{where}", highlight=False)
    empty = sum(1 for q in entries if str(q.get("reason")) == "empty_document")
    if inputs and kept == 0 and empty * 2 >= inputs:
        err_console.print("[yellow]hint:[/] most records had no text in the text field: name it with --text-field "
                          "FIELD (a glob such as 'item_*' joins several fields)")


@curate.command("run")
def run(
    recipe: str = typer.Argument(..., help="recipe YAML path or name in recipes/curation/ (e.g. fin_web)"),
    inputs: list[str] = InputOpt,
    name: str = typer.Option(None, "--name", help="dataset name of the version (default: the recipe's)"),
    executor: str = typer.Option("local", "--executor", help="local | slurm | ray"),
    tasks: int = typer.Option(1, "--tasks", help="datatrove tasks (input shards)"),
    workers: int = typer.Option(1, "--workers", help="tasks run at the same time"),
    against: list[str] = typer.Option(None, "--against", help="dedup against these versions' MinHash indexes"),
    text_key: str = typer.Option(None, "--text-field", help="text field of JSONL/Parquet/CSV inputs (glob: item_*)"),
    partition: str = typer.Option("cpu", "--partition", help="Slurm partition"),
    dry_run: bool = typer.Option(False, "--dry-run", help="with --executor slurm: print the sbatch scripts "
                                 "datatrove would submit (chained by dependency) and submit nothing"),
    store: str = StoreOpt,
    as_json: bool = JsonOpt,
    verbose: bool = typer.Option(False, "--verbose", help="show datatrove's task logs"),
    no_resume: bool = typer.Option(False, "--no-resume", help="start over even if a killed run of the same "
                                   "recipe and inputs left its work"),
    drop_samples: int = typer.Option(20, "--drop-samples", help="dropped documents kept per step:reason "
                                     "(`huijin catalog drops REF`); 0: none"),
) -> None:
    """Run a curation recipe and commit its output as a `doc` version (drops counted by step and reason).
    A run killed part-way resumes when started again with the same arguments (completed tasks are skipped)."""
    from catalogs.refs import check_name
    from curation.pipeline import run_recipe, summary
    from curation.recipe import CurationRecipeError, load_recipe

    if tasks < 1 or workers < 1:
        fail(f"--tasks and --workers must be at least 1 (got {tasks}, {workers})")
    try:  # recipe steps and the name are checked before the store (or any folder) is created
        r = load_recipe(recipe)
        check_name(name or r.name)
    except (CurationRecipeError, ValueError) as e:
        fail(_message(e))
    s = open_store(store)
    t0 = time.time()

    def on_stage(stage: str, i: int, n: int, seconds: float) -> None:
        if not as_json:
            console.print(f"[green]✓[/] stage {i}/{n} {stage} ({seconds:.1f}s)")

    opts = {"text_key": text_key} if text_key else {}
    if drop_samples < 0:
        fail(f"--drop-samples must be 0 or more (got {drop_samples})", code=2)

    def on_plan(plan) -> None:
        from .common import err_console

        if plan.resumed:
            err_console.print(f"resuming the killed run in {plan.work_dir} (completed tasks are skipped)",
                              highlight=False)
        for line in plan.not_resumed:
            err_console.print(line, highlight=False)

    if dry_run:
        from curation.slurm_dry_run import format_jobs, slurm_dry_run

        if executor != "slurm":
            fail("--dry-run prints Slurm scripts: use it with --executor slurm", code=2)
        try:
            jobs = slurm_dry_run(r, _inputs(inputs), name=name, store=s, tasks=tasks, workers=workers,
                                 against=against or None, reader_options=opts, partition=partition)
        except (CurationRecipeError, FileNotFoundError, ValueError) as e:
            fail(_message(e))
        console.print(format_jobs(jobs), markup=False, highlight=False, soft_wrap=True)
        return
    try:
        m = run_recipe(r, _inputs(inputs), name=name, store=s, executor=executor, tasks=tasks,
                       workers=workers, against=against or None, quiet=not verbose, on_stage=on_stage,
                       reader_options={**opts, "progress": not as_json}, partition=partition,
                       resume=not no_resume, on_plan=on_plan, drop_samples=drop_samples)
    except (CurationRecipeError, FileNotFoundError, ValueError) as e:
        fail(_message(e))
    if m is None:
        console.print(f"submitted to Slurm; the version appears when the commit job ends ({time.time() - t0:.1f}s)")
        return
    summ = summary(m)
    if as_json:
        print_json(summ)
        return
    _summary_table(summ, f"{m.ref}  ({m.rows} rows, {time.time() - t0:.1f}s)")
    if m.quarantined:
        q = s.read_quarantine(m)
        _explain_quarantine(q.to_pylist() if q is not None else [], m.inputs or 0, m.rows,
                            f" in {s.path_of(m) / 'quarantine'}")
    if not summ["balanced"]:
        fail(f"{m.ref}: counts do not add up (inputs {m.inputs})")


@curate.command("extract")
def extract(
    inputs: list[str] = InputOpt,
    output: Path = typer.Option(..., "--output", "-o", help="JSONL: one {text, url, source, lang} per page"),
    languages: str = typer.Option(None, "--languages", help="keep only these languages (e.g. en,zh)"),
    text_key: str = typer.Option("text", "--text-field", help="text field of JSONL/Parquet/CSV inputs"),
    store: str = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Extract main text (tables as markdown rows) from WARC/HTML/JSONL or catalog refs, with language ID."""
    from curation.verbs import extract_to_jsonl

    langs = _languages(languages)
    s = open_store(store, create=False) if any("@" in i for i in _inputs(inputs)) else None
    try:
        r = extract_to_jsonl(_inputs(inputs), output, store_root=str(s.root) if s else None,
                             languages=langs, text_key=text_key, progress=not as_json)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if as_json:
        print_json({k: v for k, v in r.items() if k != "quarantine"})
        return
    rows = [{"what": "in", "count": r["inputs"]}, {"what": "written", "count": r["written"]}]
    rows += [{"what": f"dropped {k}", "count": v} for k, v in r["dropped"].items()]
    rows += [{"what": f"quarantined {k}", "count": v} for k, v in r["quarantined"].items()]
    print_table(rows, ["what", "count"], title=f"extract → {output}")
    _explain_quarantine(r["quarantine"], r["inputs"], r["written"])


@curate.command("dedup")
def dedup(
    inputs: list[str] = InputOpt,
    output: Path = typer.Option(..., "--output", "-o", help="JSONL of the kept records (unchanged)"),
    threshold: float = typer.Option(0.8, "--threshold", help="Jaccard similarity of near-duplicates"),
    clusters: Path = typer.Option(None, "--clusters", help="JSONL: one {id, cluster, duplicate} per input record"),
    text_key: str = typer.Option("text", "--text-field", help="text field (glob allowed, e.g. item_*)"),
    no_near: bool = typer.Option(False, "--exact-only", help="exact duplicates only"),
    normalize_numbers: bool = typer.Option(False, "--normalize-numbers", help="treat figures as equal"),
    store: str = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Exact + MinHash dedup of JSONL files or doc/sft/rl versions (the text of sft/rl is their messages)."""
    from curation.verbs import dedup_to_jsonl

    items = _inputs(inputs)
    s = open_store(store, create=False) if any(not Path(i).exists() for i in items) else None
    try:
        r = dedup_to_jsonl(items, output, clusters, threshold, store_root=str(s.root) if s else None,
                           text_key=text_key, near=not no_near, normalize_numbers=normalize_numbers,
                           progress=not as_json)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    if as_json:
        print_json({k: v for k, v in r.items() if k != "quarantine"})
        return
    rows = [{"what": "in", "count": r["inputs"]}, {"what": "kept", "count": r["kept"]}]
    rows += [{"what": f"removed {k}", "count": v} for k, v in r["removed"].items()]
    rows += [{"what": f"quarantined {k}", "count": v} for k, v in r["quarantined"].items()]
    print_table(rows, ["what", "count"], title=f"dedup → {output} (threshold {r['threshold']}, "
                f"LSH {r['bands']}×{r['rows_per_band']})")
    _explain_quarantine(r["quarantine"], r["inputs"], r["kept"])
