"""bench/gpu.py cannot rot: its --dry mode runs the GPU benchmark's code path on CPU with a tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_bench_dry_run_prints_its_json(tmp_path):
    out = tmp_path / "gpu.json"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--dry", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    assert json.loads(p.stdout) == res  # stdout is the JSON alone (progress goes to stderr)
    assert res["dry"] is True and res["device"].startswith("cpu")
    (row,) = res["sizes"]
    assert row["size"] == "dry" and 50_000 < row["params"] < 2_000_000
    assert row["ours_tokens_per_s"] > 0 and row["hf_trainer_tokens_per_s"] > 0 and row["rollout_tokens_per_s"] > 0
    assert row["ratio_ours_over_hf"] == round(row["ours_tokens_per_s"] / row["hf_trainer_tokens_per_s"], 3) or \
        abs(row["ratio_ours_over_hf"] - row["ours_tokens_per_s"] / row["hf_trainer_tokens_per_s"]) < 0.01
    assert set(res["goals"]) == {"mfu_ge_0.40_at_350m", "ratio_ge_1"}
