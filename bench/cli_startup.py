"""Start-up time of the `huijin` command: `huijin --help` and `huijin catalog ls` (a store of 5 versions), the
median of N runs each, for the code at a git ref from before the lazy-import work ("before") and for this
working tree ("now"), in the same run on the same machine. Prints JSON; the goal is <= 300 ms for both.
`catalog ls` is timed piped (as scripts run it) and on a pseudo-terminal 200 columns wide (as a person does:
bold header, italic title), and ``import_ms`` gives its import time per package (``-X importtime``, the
modules' own time summed by top-level package, median of 5 runs) before and now.

    python bench/cli_startup.py [--runs 15] [--before c20296f]
    chrt -f 10 python bench/cli_startup.py       # on a shared, loaded machine (root): no waiting for a core

"before" runs from a `git worktree` of the ref with the same interpreter (the working tree's package is
shadowed by running from the worktree folder). A run is one fresh process: interpreter start, imports,
argument parsing, the command itself and exit, with Python's bytecode cache as an install has it (one untimed
run first; PYTHONDONTWRITEBYTECODE is dropped for the runs). Wall time (``median_ms``) is what a user waits; on a shared,
loaded machine it also counts time spent waiting for a core, so CPU time (user + system, ``cpu_median_ms``,
from ``wait4``) is reported beside it with the 1-minute load average.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "c20296f"  # main before issue 16 (the tree whose start-up the issue measured at 0.4-0.7 s)
GOAL_MS = 300.0


def make_store(path: Path) -> None:
    """Five small versions, imported with the library (not timed)."""
    sys.path.insert(0, str(ROOT))
    from catalogs import Store
    from catalogs.importer import import_files

    store = Store.open(path)
    src = path.parent / "docs.jsonl"
    for i in range(5):
        src.write_text("".join(json.dumps({"text": f"document {i}-{j} about bond yields", "source": "bench"}) + "\n"
                               for j in range(20 + i)), encoding="utf-8")
        import_files(store, f"bench-{i}", "doc", [src], text_field="text")


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # a pty's follower side closed
            return out
        if not chunk:
            return out
        out += chunk


def run_once(cmd: list[str], cwd: Path, env: dict[str, str], tty_columns: int | None) -> tuple[str, int, Any]:
    """One run: (stdout, wait status, rusage), stdout a pipe or a pseudo-terminal ``tty_columns`` wide."""
    if tty_columns is None:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = _read_all(p.stdout.fileno())
        p.stdout.close()
    else:
        leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, tty_columns, 0, 0))
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=subprocess.DEVNULL)
        os.close(follower)
        out = _read_all(leader)
        os.close(leader)
    _, status, usage = os.wait4(p.pid, 0)
    return out.decode("utf-8", "replace"), status, usage


def time_runs(cmd: list[str], cwds: dict[str, Path], runs: int, env: dict[str, str],
              tty_columns: int | None = None) -> dict[str, dict]:
    """Each cwd's code ``runs`` times, interleaved run by run so a load spike hits every variant alike."""
    times: dict[str, list[float]] = {k: [] for k in cwds}
    cpu: dict[str, list[float]] = {k: [] for k in cwds}
    rc: dict[str, set[int]] = {k: set() for k in cwds}
    lines: dict[str, int] = {}
    for cwd in cwds.values():  # one untimed run each: writes the bytecode cache a user's install has
        run_once(cmd, cwd, env, tty_columns)
    for _ in range(runs):
        for k, cwd in cwds.items():
            t = time.perf_counter()
            out, status, usage = run_once(cmd, cwd, env, tty_columns)
            times[k].append((time.perf_counter() - t) * 1000)
            cpu[k].append((usage.ru_utime + usage.ru_stime) * 1000)
            rc[k].add(os.waitstatus_to_exitcode(status))
            lines[k] = len(out.splitlines())
    return {k: {"median_ms": round(statistics.median(v), 1), "min_ms": round(min(v), 1),
                "max_ms": round(max(v), 1), "cpu_median_ms": round(statistics.median(cpu[k]), 1), "runs": runs,
                "exit_codes": sorted(rc[k]), "output_lines": lines[k]}
            for k, v in times.items()}


PACKAGES = ("typer", "rich", "duckdb", "catalogs", "huijin", "fasteners", "pydantic", "click")
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)")


def import_ms(cmd: list[str], cwd: Path, env: dict[str, str], runs: int = 5) -> dict[str, float]:
    """Import time of one command by top-level package (each module's own time; ``_duckdb``, DuckDB's engine,
    counts as duckdb; ``typer._click`` as typer), the rest as ``other`` (stdlib, site), median of ``runs``."""
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        err = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=cwd, env=env, capture_output=True,
                             text=True).stderr
        got = dict.fromkeys((*PACKAGES, "other"), 0.0)
        for m in _IMPORTTIME.finditer(err):
            top = m.group(2).split(".")[0]
            top = "duckdb" if top == "_duckdb" else top
            got[top if top in got else "other"] += int(m.group(1)) / 1000
        per_run.append(got)
    out = {k: round(statistics.median(r[k] for r in per_run), 1) for k in per_run[0]}
    out["total"] = round(statistics.median(sum(r.values()) for r in per_run), 1)
    return {k: v for k, v in out.items() if v or k == "total"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--before", default=BEFORE, help="git ref of the 'before' code")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "150"}
    env.pop("PYTHONPATH", None)
    # as installed: bytecode cached in __pycache__ (with PYTHONDONTWRITEBYTECODE every start recompiles our modules)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="huijin-cli-bench-") as tmp:
        tmp_p = Path(tmp)
        store = tmp_p / "store"
        make_store(store)
        wt = tmp_p / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(wt), args.before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            ls = ["catalog", "ls", "--store", str(store)]
            commands = {"help": (["--help"], None), "catalog_ls": (ls, None), "catalog_ls_terminal": (ls, 200)}
            result: dict = {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                            "loadavg_1m": round(os.getloadavg()[0], 2), "before_ref": args.before, "goal_ms": GOAL_MS}
            for name, (argv, columns) in commands.items():
                cmd = [sys.executable, "-m", "huijin.cli", *argv]
                t = time_runs(cmd, {"before": wt, "now": ROOT}, args.runs,
                              env if columns is None else {**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
                              tty_columns=columns)
                b, n = t["before"], t["now"]
                result[name] = {"before": b, "now": n, "speedup": round(b["median_ms"] / n["median_ms"], 2),
                                "now_within_goal": n["median_ms"] <= GOAL_MS}
            cmd = [sys.executable, "-m", "huijin.cli", *ls]
            result["catalog_ls"]["import_ms"] = {k: import_ms(cmd, cwd, env) for k, cwd in (("before", wt),
                                                                                           ("now", ROOT))}
            # floors for context: the interpreter alone, and the imports any typer+rich CLI over DuckDB pays
            for name, code in (("python_alone", "pass"), ("typer_rich_imports", "import typer.main, rich.console"),
                               ("typer_rich_duckdb_imports", "import typer.main, rich.console, rich.table, duckdb")):
                t = time_runs([sys.executable, "-c", code], {"now": ROOT}, args.runs, env)["now"]
                result[f"floor_{name}"] = {k: t[k] for k in ("median_ms", "cpu_median_ms")}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT, capture_output=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
