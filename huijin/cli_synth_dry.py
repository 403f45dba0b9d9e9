"""The output of `huijin synth run RECIPE --dry-run` (the work is ``synthesis.generators.dryrun``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import console, fail, open_store, print_json, print_table


def show_dry_run(recipe: str, store: str | None, *, name: str | None, limit: int | None, endpoint: str | None,
                 seed: int | None, teachers: Path | None, overrides: dict[str, Any], as_json: bool) -> None:
    """Requests, their count, estimated tokens and cost; a bad recipe, endpoint or input is one line, exit 2."""
    from synthesis.generators import SynthRecipeError
    from synthesis.generators.dryrun import dry_run

    try:
        r = dry_run(recipe, open_store(store, create=False), name=name, limit=limit, endpoint=endpoint, seed=seed,
                    teachers_file=teachers, overrides=overrides)
    except (SynthRecipeError, ValueError, KeyError, FileNotFoundError) as e:  # TeacherConfigError, RefError too
        fail(" ".join(str(e).strip("'\"").split()), code=2)
        return
    if as_json:
        print_json(r)
        return
    if r["teacher_free"]:
        console.print(f"dry run of {r['recipe']} ({r['generator']}): {r['note']}", highlight=False)
        return
    console.print(f"dry run of [bold]{r['recipe']}[/] ({r['generator']}) on {r['endpoint']} ({r['model']}): "
                  "nothing sent, nothing written", highlight=False)
    for i, s in enumerate(r["samples"], 1):
        console.rule(f"request {i} of {r['requests']} ({s['title']})")
        for m in s["messages"]:
            text = str(m.get("content") or "")
            console.print(f"[bold cyan]{m.get('role')}:[/] " + (text if len(text) <= 800 else text[:800] + " …"),
                          highlight=False, markup=True)
        if s["params"]:
            console.print(f"[dim]{s['params']}[/]", highlight=False)
    print_table([{"step": k, "requests": v} for k, v in r["by_step"].items()], ["step", "requests"],
                title="requests by step")
    print_table([{"requests": r["requests"], "cached (free)": r["cached"], "to send": r["to_send"],
                  "input tokens (est.)": r["input_tokens_est"], "output tokens (max)": r["output_tokens_max"],
                  "cost input (est.)": f"${r['cost_usd_input_est']:.4f}", "cost at most": f"${r['cost_usd_max']:.4f}"}],
                title=f"estimate at ${r['price_per_million']['input']}/M in, ${r['price_per_million']['output']}/M out")
    extra = f"; {r['requests_without_max_tokens']} request(s) without max_tokens are not bounded" \
        if r["requests_without_max_tokens"] else ""
    console.print(f"input tokens ≈ characters / {r['chars_per_token']:g}; output bounded by max_tokens{extra}. "
                  f"{r['note']}.", highlight=False)
    if r.get("stopped"):
        console.print(f"[dim]the generator stopped with: {r['stopped'][:300]}[/]", highlight=False)
