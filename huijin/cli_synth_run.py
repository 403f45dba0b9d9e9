"""`huijin synth run RECIPE`: run a synthesis recipe (recipes/synthesis/*.yaml) into sft/rl catalog versions."""

from __future__ import annotations

from pathlib import Path

import typer

from .apps import synth
from .common import JsonOpt, StoreOpt, console, fail, nearest, open_store, parse_sets, print_json, print_table


@synth.command("run")
def synth_run(
    recipe: str = typer.Argument(..., help="a recipe name in recipes/synthesis/ (e.g. programmatic_tables) or a "
                                           "YAML path"),
    endpoint: str = typer.Option(None, "--endpoint", help="teacher endpoint name (recipes/teachers.yaml); "
                                                          "programmatic recipes need none"),
    limit: int = typer.Option(None, "--limit", min=1, help="stop after N kept rows of the primary output"),
    name: str = typer.Option(None, "--name", help="version name of the primary output (others: NAME-<output>)"),
    seed: int = typer.Option(None, "--seed", help="override the recipe's seed"),
    teachers: Path = typer.Option(None, "--teachers", "--endpoints", exists=True, dir_okay=False,
                                  help="endpoints file (default recipes/teachers.yaml)"),
    set_: list[str] = typer.Option([], "--set", help="override a recipe key: KEY=YAML_VALUE (repeatable)"),
    regenerate: list[str] = typer.Option([], "--regenerate", help="ask again instead of using the cache for "
                                                                  "rows that ended with: length | failed"),
    retry_failed: str = typer.Option("transient", "--retry-failed", help="failed rows cached by an earlier run to "
                                     "ask again: transient (endpoint down, retries ran out) | all | none"),
    post: bool = typer.Option(False, "--post", help="then run the recipe's `post:` steps (curation verbs: "
                                                    "dedup, decontaminate) on the new versions"),
    dry_run: bool = typer.Option(False, "--dry-run", help="send nothing, write nothing: show the requests, "
                                 "their count and the estimated tokens and cost"),
    store: str = StoreOpt,
    json_: bool = JsonOpt,
) -> None:
    """Run a synthesis recipe: generate, verify, label by taxonomy leaf and write versions with provenance."""
    from synthesis.generators import SynthRecipeError, run

    if set(regenerate) - {"length", "failed"}:
        fail(f"--regenerate takes length or failed, got {', '.join(regenerate)}")
    if retry_failed not in ("transient", "all", "none"):
        fail(f"--retry-failed takes transient, all or none, got {retry_failed}")
    overrides = parse_sets(set_, nest=False)  # recipe keys are flat: generate.per_table is one (unknown) key
    _refuse_misspelled(recipe, overrides)
    if dry_run:
        from .cli_synth_dry import show_dry_run

        show_dry_run(recipe, store, name=name, limit=limit, endpoint=endpoint, seed=seed, teachers=teachers,
                     overrides=overrides, as_json=json_)
        return
    s = open_store(store)
    try:
        report = run(recipe, s, name=name, limit=limit, endpoint=endpoint, seed=seed, teachers_file=teachers,
                     progress=not json_, overrides=overrides, regenerate=tuple(regenerate),
                     retry_failed=retry_failed)
    except (SynthRecipeError, ValueError, KeyError, FileNotFoundError) as e:
        fail(str(e))
        return
    except Exception as e:  # teacher errors (bad key, unknown model) stop the run with their message
        if type(e).__name__ in ("TeacherError", "TeacherConfigError"):
            fail(str(e))
        raise
    rows = report.rows()
    steps = report.recipe_data.get("post") or []
    if json_:
        done = _run_post(steps, report, s, to_stderr=True) if post else []
        print_json({"recipe": report.recipe, "generator": report.generator, "outputs": rows,
                    "coverage": report.coverage, "teacher": report.teacher, "seconds": round(report.seconds, 2),
                    "stats": report.stats, "unused_keys": report.unused_keys, "post": done})
        return
    print_table(rows, ["output", "version", "inputs", "kept", "dropped", "quarantined", "acceptance"],
                title=f"synth run {report.recipe} ({report.generator})")
    for r in rows:
        if r["drop_reasons"]:
            console.print(f"{r['output']} dropped: " + ", ".join(f"{k} {v}" for k, v in r["drop_reasons"].items()))
        m = report.manifests.get(r["output"])
        if m is not None and m.quarantined:  # the reasons; each row with its full reason is in the quarantine shard
            console.print(f"{r['output']} quarantined: " + ", ".join(f"{k} {v}" for k, v in m.quarantined.items())
                          + f" (each row and its full reason: {Path(s.path_of(m)) / 'quarantine'})")
    cov = [{"output": k, "leaf": leaf, "rows": n} for k, c in report.coverage.items()
           for leaf, n in sorted(c.items(), key=lambda x: -x[1])]
    if cov:
        print_table(cov, ["output", "leaf", "rows"], title="coverage by taxonomy leaf")
    if report.teacher:
        t = report.teacher["total"]
        console.print(f"teacher: {t['requests']} requests, {t['cached']} cached, {t['input_tokens']} in / "
                      f"{t['output_tokens']} out tokens, ${t['cost_usd']:.4f}")
        if t.get("coalesced"):
            console.print(f"teacher: {t['coalesced']} identical requests in flight answered by one call each")
        if t.get("cached_failed") and t["cached_failed"] > t.get("coalesced", 0) and "failed" not in regenerate:
            console.print("note: failed rows are cached too; --retry-failed all (or --regenerate failed) asks "
                          "the teacher again")
    console.print(f"done in {report.seconds:.1f}s: " + ", ".join(m.ref for m in report.manifests.values()))
    if report.unused_keys:
        console.print(f"[yellow]warning:[/] recipe keys this run never read (a typo, or not used with these "
                      f"settings): {', '.join(report.unused_keys)}")
    if post and steps:
        _run_post(steps, report, s)
    elif steps:
        console.print("hygiene: rerun with --post, or run the recipe's post steps (huijin curate dedup / "
                      "decontaminate) on these versions")


def _run_post(steps: list, report, s, to_stderr: bool = False) -> list[dict]:
    """Run each ``post`` step as ``huijin <args>`` (a subprocess: pillars meet through versions, not imports).

    Placeholders: ``{<output>}`` → the new version ref, ``{<output>_name}`` → its name, ``{store}``,
    ``{shared}`` → the shared data folder, ``{work}`` → ``<store>/synth-work/<recipe>``."""
    import subprocess
    import sys

    from synthesis.generators.context import shared_data_dir

    work = Path(s.root) / "synth-work" / report.recipe
    work.mkdir(parents=True, exist_ok=True)
    values = {"store": str(s.root), "shared": str(shared_data_dir()), "work": str(work)}
    for k, m in report.manifests.items():
        values[k], values[f"{k}_name"] = m.ref, m.name
    done = []
    for step in steps:
        args = [str(a).format(**values) for a in (step if isinstance(step, list) else str(step).split())]
        if not to_stderr:
            console.rule("post: huijin " + " ".join(args))
        proc = subprocess.run([sys.executable, "-m", "huijin.cli", *args, "--store", str(s.root)],
                              capture_output=to_stderr, text=True)
        rc = proc.returncode
        if to_stderr:  # --json: stdout carries only the JSON document
            sys.stderr.write((proc.stdout or "") + (proc.stderr or ""))
        done.append({"step": " ".join(args), "rc": rc})
        if rc != 0:
            fail(f"post step failed (exit {rc}): huijin {' '.join(args)}")
    return done


def _refuse_misspelled(recipe: str, overrides: dict) -> None:
    """A --set key the recipe lacks but that is close to one it has is a typo: refuse it before any work. A key
    with no near match may be an optional setting the generator reads; an unread one is warned about after."""
    from synthesis.generators import SynthRecipeError
    from synthesis.generators.runner import load_recipe

    try:
        data, _ = load_recipe(recipe)
    except SynthRecipeError:
        return  # the run reports it
    for k in overrides:
        near = nearest(k, data) if k not in data else None
        if near:
            fail(f"--set: unknown key {k!r}; did you mean {near!r}?", code=2)
