"""`huijin catalog query` limits hold, and a long query does not block imports. Prints JSON.

- row limit: ``select * from range(100000000)`` returns --max-rows rows and stops quickly, bounded RSS;
- memory limit: ``select list(range) from range(100000000)`` with --memory-limit 200MB stops with the message;
- time limit: a cross join of two ``range(200000)`` stops at --timeout;
- an import (the library call, in this process) while a long query runs takes at most 2× its idle time.

Each query runs as its own ``huijin`` process; peak RSS is that process's (``os.wait4``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalogs import Store  # noqa: E402
from catalogs.importer import import_files  # noqa: E402

HUIJIN = [sys.executable, "-c", "from huijin.cli import main; main()"]
CROSS = "select count(*) from range(200000) a, range(200000) b where a.range + b.range = 7"


def popen_rss(args: list[str], store: Path) -> tuple[subprocess.Popen, float]:
    return subprocess.Popen([*HUIJIN, *args, "--store", str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT), time.perf_counter()


def wait_rss(p: subprocess.Popen, t0: float) -> dict:
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read() if p.stderr else ""
    out = p.stdout.read() if p.stdout else ""
    code = os.waitstatus_to_exitcode(status)
    return {"seconds": round(wall, 2), "exit": code, "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "stdout_lines": len(out.splitlines()), "message": (err.strip().splitlines() or [""])[-1][:200]}


def timed_import(store: Store, src: Path, i: int) -> float:
    t = time.perf_counter()
    import_files(store, f"imp{i}", "doc", [src])
    return time.perf_counter() - t


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        store = Store.open(root)
        src = Path(tmp) / "docs.jsonl"
        src.write_text("".join(json.dumps({"text": f"filing {i} " * 20}) + "\n" for i in range(2000)))
        out: dict = {}

        p, t0 = popen_rss(["catalog", "query", "select 1"], root)
        out["startup"] = wait_rss(p, t0)

        p, t0 = popen_rss(["catalog", "query", "select * from range(100000000)", "--csv"], root)
        r = wait_rss(p, t0)
        r["rows_returned"] = r["stdout_lines"] - 1
        r["holds"] = r["exit"] == 0 and r["rows_returned"] == 10_000 and "row limit" in r["message"]
        out["row_limit"] = r

        p, t0 = popen_rss(["catalog", "query", "select list(range) from range(100000000)", "--memory-limit", "200MB"],
                          root)
        r = wait_rss(p, t0)
        r["holds"] = r["exit"] != 0 and "memory limit" in r["message"]
        out["memory_limit_200MB"] = r

        timeout = 5.0
        p, t0 = popen_rss(["catalog", "query", CROSS, "--timeout", str(timeout)], root)
        r = wait_rss(p, t0)
        r["timeout_s"] = timeout
        r["overshoot_s"] = round(r["seconds"] - timeout - out["startup"]["seconds"], 2)
        r["holds"] = r["exit"] != 0 and "time limit" in r["message"] and r["seconds"] < timeout + out["startup"]["seconds"] + 3
        out["time_limit"] = r

        idle = [timed_import(store, src, i) for i in range(3)]
        # a long query (30 s limit) running while we import again
        p, t0 = popen_rss(["catalog", "query", CROSS, "--timeout", "30"], root)
        time.sleep(out["startup"]["seconds"] + 1.0)  # let it start and take its snapshot
        busy = [timed_import(store, src, 10 + i) for i in range(3)]
        still_running = p.poll() is None
        p.terminate()
        p.wait()
        idle_s, busy_s = statistics.median(idle), statistics.median(busy)
        out["import_during_query"] = {
            "idle_import_s": round(idle_s, 3), "import_during_query_s": round(busy_s, 3),
            "ratio": round(busy_s / idle_s, 2), "query_still_running": still_running,
            "holds": still_running and busy_s <= 2 * idle_s,
        }
        out["all_hold"] = all(v.get("holds", True) for v in out.values() if isinstance(v, dict))
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
