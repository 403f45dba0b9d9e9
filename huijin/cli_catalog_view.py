"""`huijin catalog serve | head | diff`: look at the data — a read-only web viewer, the first records of a
version, and what changed between two versions. Errors are one line, with the CLI's exit codes
(``huijin.common.KNOWN_ERRORS``: a bad ref, store or option 2, a failure 1)."""

from __future__ import annotations

import json

import typer

from .cli_catalog import app
from .common import (
    JsonOpt,
    StoreOpt,
    console,
    err_console,
    fail,
    one_line_errors,
    open_store,
    print_json,
    print_table,
    store_root,
)


def _load(v):
    # imported here: catalogs.schemas loads pyarrow, needed when records are shown, not for `catalog ls`
    from catalogs.schemas import loads_json_field

    return loads_json_field(v)


def _complete_ref(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of version refs (NAME@N) from the store named on the line, $HUIJIN_STORE or the default."""
    try:
        from catalogs import Store

        s = Store.open(store_root(ctx.params.get("store")), create=False)
        refs = [f"{v['name']}@{v['version']}" for v in s.ls()]
    except Exception:  # completion never fails loudly: no store, no suggestions
        return []
    return [r for r in refs if r.startswith(incomplete)]


@app.command()
@one_line_errors
def serve(
    port: int = typer.Option(8765, "--port", help="TCP port"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind; anything but 127.0.0.1/localhost "
                                                        "exposes the store to the network (no authentication)"),
    store: str = StoreOpt,
) -> None:
    """Browse the store in a web browser: versions, rows, drop funnels, lineage, snapshots, runs, taxonomy."""
    import socket

    from .web import LOCAL
    from .web import serve as run_server

    if not 0 < port < 65536:
        fail(f"--port {port}: expected 1-65535", code=2)
    open_store(store, create=False)  # a missing or damaged store: one line now, not a server that fails later
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, port))
    except OSError as e:
        fail(f"cannot listen on {host}:{port} ({e.strerror or e}): pass another --port", code=2)
    if host not in LOCAL:
        err_console.print(f"[yellow]warning:[/] serving on {host}: anyone who can reach it can read this store "
                          "(the viewer has no authentication)", highlight=False)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    console.print(f"catalog viewer for [bold]{store_root(store)}[/] at {where} (read-only; Ctrl-C stops)",
                  highlight=False, soft_wrap=True)
    run_server(store_root(store), host=host, port=port)


@app.command()
@one_line_errors
def head(
    ref: str = typer.Argument(..., help="version: NAME@N or NAME (latest)", autocompletion=_complete_ref),
    n: int = typer.Option(5, "-n", "--rows", help="how many records"),
    width: int = typer.Option(1200, "--chars", help="show at most this many characters of each text field"),
    json_: bool = JsonOpt,
    store: str = StoreOpt,
) -> None:
    """The first records of a version, pretty: text, chat messages, reward specs."""
    import itertools

    if n < 1:
        fail(f"-n {n}: expected a number of records >= 1", code=2)
    if width < 1:
        fail(f"--chars {width}: expected >= 1", code=2)
    s = open_store(store, create=False)
    m = s.resolve(ref)
    from catalogs import SCHEMAS

    if m.kind not in SCHEMAS:
        fail(f"{m.ref} is a '{m.kind}' version: it holds files, not records ({len(m.shards)} file(s); "
             f"`huijin catalog show {m.ref}` lists them)", code=2)
    records = list(itertools.islice(s.iter_records(m), n))
    if json_:
        for r in records:
            print(json.dumps(r, ensure_ascii=False, default=str))
        return
    from rich.panel import Panel

    console.print(f"[bold]{m.ref}[/] ({m.kind}): first {len(records)} of {m.rows} records", highlight=False)
    for i, r in enumerate(records, 1):
        console.print(Panel(_pretty(r, width), title=f"{i} · {r.get('id', '')}", title_align="left",
                            subtitle=" · ".join(str(r[k]) for k in ("taxonomy", "lang") if r.get(k)) or None,
                            subtitle_align="right"))


def _pretty(r: dict, width: int):
    from rich.console import Group
    from rich.text import Text

    parts = []
    for k, v in r.items():
        if k in ("id",) or v is None or v == "" or v == []:
            continue
        if k in ("messages", "prompt", "chosen", "rejected"):
            msgs = _load(v)
            for msg in msgs if isinstance(msgs, list) else []:
                t = Text(f"{msg.get('role', '?')}: ", style="bold cyan")
                t.append(_cut(str(msg.get("content") or ""), width))
                for call in msg.get("tool_calls") or []:
                    fn = call.get("function", call) if isinstance(call, dict) else {}
                    t.append(f"\n  → {fn.get('name')}({_cut(str(fn.get('arguments')), 300)})", style="magenta")
                parts.append(t)
            continue
        val = _load(v)
        shown = json.dumps(val, ensure_ascii=False, default=str) if isinstance(val, (dict, list)) else str(val)
        t = Text(f"{k}: ", style="bold")
        t.append(_cut(shown, width))
        parts.append(t)
    return Group(*parts)


def _cut(s: str, width: int) -> str:
    return s if len(s) <= width else s[:width] + f" … (+{len(s) - width} chars)"


@app.command()
@one_line_errors
def diff(
    a: str = typer.Argument(..., help="the old version (NAME@N)", autocompletion=_complete_ref),
    b: str = typer.Argument(..., help="the new version (NAME@N)", autocompletion=_complete_ref),
    json_: bool = JsonOpt,
    store: str = StoreOpt,
) -> None:
    """What changed from A to B: schema, rows/tokens, statistics, drops, recipe keys, parents."""
    from catalogs.diff import diff_versions

    d = diff_versions(open_store(store, create=False), a, b)
    if json_:
        print_json(d)
        return
    same = "same content" if d["same_content"] else "different content"
    console.print(f"[bold]{d['a']}[/] → [bold]{d['b']}[/] ({d['kind']['a']} → {d['kind']['b']}, {same}; "
                  f"hash {d['hash']['a'][:12]} → {d['hash']['b'][:12]})", highlight=False)
    print_table(d["sizes"], ["field", "a", "b", "delta"], title="size")
    if d["schema"]:
        print_table(d["schema"], ["column", "change", "a", "b"], title="schema")
    else:
        console.print("schema: unchanged")
    for title, rows in (("drops", d["drops"]), ("quarantined", d["quarantined"]),
                        *((f"stats: {k}", v) for k, v in d["stats"].items())):
        if rows:
            print_table(rows, ["key", "a", "b", "delta"], title=title)
    if d["recipe"]:
        print_table(d["recipe"], ["key", "change", "a", "b"], title="recipe")
    else:
        console.print(f"recipe: unchanged ({d['recipe_hash']['a']})", highlight=False)
    if d["parents"]["a"] != d["parents"]["b"]:
        console.print(f"parents: {', '.join(d['parents']['a']) or '—'} → {', '.join(d['parents']['b']) or '—'}",
                      highlight=False)
    if d["code_version"]["a"] != d["code_version"]["b"]:
        console.print(f"code: {d['code_version']['a']} → {d['code_version']['b']}", highlight=False)
