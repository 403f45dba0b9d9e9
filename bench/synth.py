"""Synthesis recipes end to end: counts, acceptance rates and coverage per taxonomy leaf, as JSON.

* the programmatic recipes (no teacher) on the real shared FinQA / TAT-QA / ConvFinQA tables;
* every teacher recipe against the local OpenAI-compatible server with the scripted teacher of the tests
  (wrong answers, invalid and hostile programs, hostile SQL, non-compliant dialogues), with injected latency.

There is no anchor tool that writes verified RL tasks or tool environments (REFERENCES.md), so this prints
our own figures: rows/s of the programmatic generators, and for the teacher recipes the acceptance rate and
drop reasons the verifiers produce. Run: ``python bench/synth.py [--latency 0.05]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def summary(rep) -> dict:
    return {"seconds": round(rep.seconds, 2),
            "outputs": {r["output"]: {k: r[k] for k in ("version", "inputs", "kept", "dropped", "quarantined",
                                                         "acceptance", "drop_reasons")} for r in rep.rows()},
            "coverage": rep.coverage, "stats": rep.stats,
            "teacher": None if not rep.teacher else {k: rep.teacher["total"][k] for k in
                                                     ("requests", "cached", "failed", "input_tokens",
                                                      "output_tokens")}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=0.02, help="scripted server latency per reply (s)")
    a = ap.parse_args()
    from conftest import write_arith_tasks
    from test_envs_teacher import tasks as agentic_tasks
    from test_generators_teacher import PASSAGE, Teacher

    from catalogs import Store
    from synthesis.generators import run
    from synthesis.testing import FakeOpenAIServer

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "store")
        from synthesis.generators.context import shared_data_dir

        for name in ("programmatic_tables", "agentic_tasks") if shared_data_dir().is_dir() else ():
            rep = run(name, store)
            rows = sum(s["kept"] for s in rep.outputs.values())
            out[name] = {**summary(rep), "rows_per_s": round(rows / rep.seconds, 1)}
        with store.writer("fin-web", kind="doc") as w:
            w.write([{"text": PASSAGE * 3, "lang": "en", "id": f"d{i}"} for i in range(4)])
        with FakeOpenAIServer(responder=Teacher(), latency=a.latency, jitter=a.latency / 2) as srv:
            ep = srv.endpoint(max_concurrency=32)
            # the scripted teacher can solve "What is A plus B" tasks (2 of 4 or 1 of 4 samples right) and the
            # two scripted agentic tasks (one honest, one that starts with hostile SQL and a hostile expression)
            arith, agentic = write_arith_tasks(store, 24), agentic_tasks(store)
            jobs = [("grounded_sft", {"min_passage_chars": 200}, None), ("evolution", {"total": 52}, None),
                    ("advisory_dialogues", {"dialogues": 40}, None),
                    ("rejection_sampling", {"k": 4, "tasks": arith}, None), ("authored_rl", {"tables": 60}, None),
                    ("agentic_sft", {"max_turns": 4, "tasks": agentic}, None),
                    ("judge_filter", {"input": "fin-evol-sft"}, None), ("annotate", {}, None)]
            for name, overrides, limit in jobs:
                if name == "authored_rl" and not shared_data_dir().is_dir():
                    continue  # its tables come from the shared data
                t0 = time.time()
                rep = run(name, store, endpoint=ep, overrides=overrides, limit=limit)
                out[name] = {**summary(rep), "wall_s": round(time.time() - t0, 2)}
    json.dump(out, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
