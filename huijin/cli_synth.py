"""`huijin taxonomy …`, `huijin verify …` and `huijin synth label|export|endpoints`: wiring only."""

from __future__ import annotations

from pathlib import Path

import typer

from .apps import synth, taxonomy, verify
from .common import JsonOpt, StoreOpt, console, fail, open_store, print_json, print_table, store_root

TaxFileOpt = typer.Option(None, "--file", help="taxonomy YAML (default: the built-in one)")
EndpointsOpt = typer.Option(None, "--endpoints", "--teachers", help="teacher endpoints YAML (default "
                                                                    "recipes/teachers.yaml)")
CacheHelp = "request cache file (default <store>/cache/teacher.sqlite, the one `synth run` uses)"


def _cache_path(cache: Path | None, store: str | None) -> Path:
    """The request cache: as given, else the store's (shared with `huijin synth run`)."""
    if cache is not None:
        return cache
    return Path(store_root(store).removeprefix("file://")).expanduser() / "cache" / "teacher.sqlite"  # path only: no catalog connection while a run may hold it


# -- taxonomy -----------------------------------------------------------------------------------
@taxonomy.command("show")
def taxonomy_show(tree: bool = typer.Option(False, "--tree", help="print the scenario → capability → task tree"),
                  json_: bool = JsonOpt, file: Path = TaxFileOpt) -> None:
    """The task taxonomy: leaves with answer type and reward type (or the tree)."""
    from synthesis.taxonomy import TaxonomyError, load_taxonomy

    try:
        tax = load_taxonomy(file)
    except TaxonomyError as e:
        fail(str(e))
    if json_:
        print_json(tax.tree() if tree else tax.rows())
        return
    if tree:
        from rich.tree import Tree

        root = Tree(f"[bold]financial task taxonomy v{tax.version}[/] ({len(tax.scenarios)} scenarios, "
                    f"{len(tax.leaves)} task types)")
        for s in tax.scenarios:
            sn = root.add(f"[bold]{s['id']}[/] — {s.get('name', '')}")
            for c in s.get("capabilities") or []:
                cn = sn.add(f"{c['id']}")
                for t in c.get("tasks") or []:
                    cn.add(f"{t['id']} [dim]({t['answer_type']}; {','.join(t.get('languages') or [])})[/]")
        console.print(root)
        return
    print_table(tax.rows(), ["leaf", "answer_type", "reward", "languages", "sectors"],
                title=f"taxonomy v{tax.version}: {len(tax.leaves)} leaves")


@taxonomy.command("coverage")
def taxonomy_coverage(ref: str = typer.Argument(..., help="version, e.g. fin-sft@2"),
                      depth: int = typer.Option(3, "--depth", min=1, max=3, help="1 scenario, 2 capability, 3 leaf"),
                      json_: bool = JsonOpt, file: Path = TaxFileOpt, store: str = StoreOpt) -> None:
    """Rows of a version per taxonomy node (zeros included)."""
    from catalogs import RefError
    from synthesis.taxonomy import coverage, load_taxonomy

    try:
        rows = coverage(open_store(store, create=False), ref, load_taxonomy(file), depth)
    except (RefError, ValueError, FileNotFoundError) as e:
        fail(str(e))
    if json_:
        print_json(rows)
    else:
        print_table(rows, ["node", "rows", "share"], title=f"taxonomy coverage of {ref}")


# -- verify -------------------------------------------------------------------------------------
def _verify(kind: str, file: Path, json_: bool, show: int) -> None:
    from synthesis.rewards.verify import load_records, verify_convfinqa, verify_finqa

    try:
        records = load_records(file)
        res = (verify_finqa if kind == "finqa" else verify_convfinqa)(records)
    except ValueError as e:
        fail(str(e) if str(file) in str(e) else f"{file}: {e}")
    except OSError as e:
        fail(str(e))
    if json_:
        print_json({"total": res["total"], "agree": res["agree"], "disagree": res["disagree"]})
        return
    print_table([{"file": str(file), "total": res["total"], "agree": res["agree"],
                  "disagree": len(res["disagree"]), "agreement": res["agreement"]}], title=f"verify {kind}")
    if res["disagree"]:
        print_table([{"id": i, "reason": res["reasons"][i]} for i in res["disagree"][:show]],
                    title=f"programs that do not reproduce the gold answer (first {show})")


@verify.command("finqa")
def verify_finqa_cmd(file: Path = typer.Argument(..., exists=True, dir_okay=False, help="FinQA-format JSON"),
                     json_: bool = JsonOpt, show: int = typer.Option(50, "--show", help="list at most this many disagreeing programs")) -> None:
    """Run every record's qa.program with the safe interpreter and compare with qa.exe_ans."""
    _verify("finqa", file, json_, show)


@verify.command("convfinqa")
def verify_convfinqa_cmd(file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                                      help="ConvFinQA Program-of-Thoughts JSON"),
                         json_: bool = JsonOpt, show: int = typer.Option(50, "--show", help="list at most this many disagreeing programs")) -> None:
    """Run every turn's PoT program (ast-whitelisted arithmetic) and compare the last with answer."""
    _verify("convfinqa", file, json_, show)


# -- synth --------------------------------------------------------------------------------------
@synth.command("endpoints")
def synth_endpoints(endpoints: Path = EndpointsOpt, json_: bool = JsonOpt) -> None:
    """Teacher endpoints and whether their key variable is set (never the key)."""
    import os

    from synthesis.teachers import TeacherConfigError, load_endpoints

    try:
        eps = load_endpoints(endpoints)
    except TeacherConfigError as e:
        fail(str(e))
    rows = [{"name": e.name, "model": e.model, "base_url": e.base_url, "key_env": e.api_key_env or "",
             "key_set": bool(e.api_key_env and os.environ.get(e.api_key_env)), "max_conc": e.max_concurrency,
             "control": "adaptive" if e.adaptive else f"rpm {e.rpm} tpm {e.tpm}",
             "$/M in,out": f"{e.price.input},{e.price.output}"} for e in eps.values()]
    print_json(rows) if json_ else print_table(rows, title="teacher endpoints")


@synth.command("label")
def synth_label(ref: str = typer.Argument(..., help="version to label, e.g. fin-sft@1"),
                endpoint: str = typer.Option(..., "--endpoint", help="endpoint name in the endpoints file"),
                endpoints: Path = EndpointsOpt,
                cache: Path = typer.Option(None, "--cache", help=CacheHelp),
                name: str = typer.Option(None, "--name", help="output dataset (default: next version of the input)"),
                regenerate: list[str] = typer.Option([], "--regenerate",
                                                      help="ask again for cached rows that were: length | failed"),
                progress: bool = typer.Option(True, "--progress/--no-progress", help="show the live teacher progress line"),
                file: Path = TaxFileOpt, store: str = StoreOpt) -> None:
    """Assign taxonomy leaves to every record of a version with a teacher; writes a new version."""
    from catalogs import RefError
    from synthesis.taxonomy import label_version, load_taxonomy
    from synthesis.teachers import TeacherClient, TeacherConfigError, TeacherError, get_endpoint

    try:
        if set(regenerate) - {"length", "failed"}:
            fail(f"--regenerate takes length or failed, got {regenerate}")
        s = open_store(store, create=False)
        cache = _cache_path(cache, str(s.root))
        cache.parent.mkdir(parents=True, exist_ok=True)
        ep = get_endpoint(endpoint, endpoints)
        from synthesis.teachers.preflight import preflight

        preflight(ep)  # a server that is down: one error naming it, before any request
        client = TeacherClient(ep, cache=cache, regenerate=regenerate)
        m = label_version(s, ref, client, load_taxonomy(file), name=name, progress=progress)
    except (TeacherConfigError, TeacherError, RefError, ValueError, FileNotFoundError) as e:
        fail(str(e))
    print_table([{"version": m.ref, "rows": m.rows, "labelled": m.extra.get("labelled"),
                  "failed": sum(m.extra.get("label_failures", {}).values()),
                  "cost_usd": m.extra["teacher_accounting"]["total"]["cost_usd"]}], title="labelled")


@synth.command("cache")
def synth_cache(cache: Path = typer.Argument(None, help=CacheHelp), json_: bool = JsonOpt,
                store: str = StoreOpt) -> None:
    """What a request cache holds: finished rows by status and finish_reason (length rows can be regenerated)."""
    from synthesis.teachers import RequestCache

    cache = _cache_path(cache, store)
    if not cache.exists():
        fail(f"no request cache at {cache}")
    stats = RequestCache(cache).stats()
    if json_:
        print_json(stats)
    else:
        print_table([{"rows": k, "count": v} for k, v in sorted(stats.items())], title=f"request cache {cache}")


@synth.command("export")
def synth_export(ref: str = typer.Argument(..., help="an rl version"),
                 fmt: str = typer.Option("verl", "--format", help="verl | trl"),
                 out: Path = typer.Option(..., "--output", "-o", help="output parquet file"), store: str = StoreOpt) -> None:
    """Export an rl version as verl or TRL parquet rows (the reward spec travels with each row)."""
    from catalogs import RefError
    from synthesis.rewards import export_rl

    if out.is_dir():
        fail(f"--output {out} is a folder; give a file, e.g. {out / 'rl.parquet'}")
    try:
        res = export_rl(open_store(store, create=False), ref, out, fmt)
    except (RefError, ValueError, OSError) as e:
        fail(str(e))
    print_table([res], title="exported")
