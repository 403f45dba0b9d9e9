"""A quiet command by default (issue 16): library warnings, DeepSpeed's log lines and Hugging Face progress bars
are hidden unless --verbose; --log-file keeps all of it. Checked on the session's `huijin demo --quick` output
and, piece by piece, in subprocesses that make the same noise the demo's libraries make."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# what the demo printed before: DeepSpeed's "[WARNING] ... Setting accelerator to CPU", transformers'
# "Loading weights" / "Writing model shards" tqdm bars, Python warnings from libraries
NOISE = [re.compile(p) for p in (r"\[WARNING\]", r"Loading weights", r"Writing model shards", r"\d+it/s\]",
                                 r"\|[█▏▎▍▌▋▊▉ ]+\|", r"\b\w+Warning: ", r"DeepSpeed \S+ built successfully",
                                 r"\| (INFO|WARNING) +\| ")]

NOISY = textwrap.dedent("""
    import logging, sys, warnings
    if sys.argv[1] == "quiet":
        from huijin import quiet
        quiet.configure(False, sys.argv[2] if len(sys.argv) > 2 else None)
    # DeepSpeed's logger: its own stdout handler, propagation off (deepspeed/utils/logging.py)
    ds = logging.getLogger("DeepSpeed")
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] %(message)s"))
    ds.addHandler(h); ds.setLevel(logging.INFO); ds.propagate = False
    ds.warning("Setting accelerator to CPU. If you have GPU or other accelerator, we were unable to detect it.")
    ds.error("a DeepSpeed error still shows")
    # Hugging Face's switch for the "Loading weights" / "Writing model shards" bars
    from huggingface_hub.utils import are_progress_bars_disabled
    print("hf bars", "off" if are_progress_bars_disabled() else "on")
    warnings.warn_explicit("a library warning", UserWarning, "/x/site-packages/somelib/mod.py", 3)
    warnings.warn_explicit("a huijin warning", UserWarning, "/repo/catalogs/store.py", 7)
    logging.getLogger("somelib").warning("a library log line")
    print("our output")
""")


def _run(tmp_path: Path, *args: str) -> str:
    script = tmp_path / "noisy.py"
    script.write_text(NOISY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("HUIJIN_VERBOSE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    p = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout + p.stderr


def test_library_noise_hidden_by_default_kept_in_the_log_file(tmp_path: Path) -> None:
    loud = _run(tmp_path, "loud")
    assert "Setting accelerator to CPU" in loud and "hf bars on" in loud and "a library warning" in loud
    log = tmp_path / "logs" / "huijin.log"
    quiet = _run(tmp_path, "quiet", str(log))
    lines = [ln for ln in quiet.splitlines() if ln.strip()]
    assert lines[0].endswith("[ERROR] a DeepSpeed error still shows")  # errors always show
    assert sorted(lines[1:]) == sorted(["hf bars off", "our output",  # our own warnings too
                                        "WARNING py.warnings: /repo/catalogs/store.py:7: UserWarning: a huijin warning"])
    kept = log.read_text(encoding="utf-8")
    for line in ("WARNING DeepSpeed: Setting accelerator to CPU", "UserWarning: a library warning",
                 "WARNING somelib: a library log line", "our output", "hf bars off"):
        assert line in kept, line


def test_log_file_gets_output_and_traceback_of_a_failed_command(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    env = {k: v for k, v in os.environ.items() if k != "HUIJIN_VERBOSE"}
    store = tmp_path / "store"
    p = subprocess.run([sys.executable, "-m", "huijin.cli", "--log-file", str(log), "catalog", "init", "--store",
                        str(store)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0
    text = log.read_text(encoding="utf-8")
    assert text.startswith("# huijin --log-file") and "store ready at" in text and "\x1b[" not in text
    # an unexpected error: one line on the console, its traceback in the file
    (store / "versions" / "bad" / "1-00000000").mkdir(parents=True)
    (store / "versions" / "bad" / "1-00000000" / "manifest.json").write_text("{not json", encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "huijin.cli", "--log-file", str(log), "catalog", "rebuild", "--store",
                        str(store)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "Traceback (most recent call last)" in log.read_text(encoding="utf-8")


def test_demo_output_has_no_library_warnings_or_progress_bars(demo_run) -> None:
    """The session's `huijin demo --quick` (conftest): its step lines and summary, none of the libraries' noise."""
    _, out = demo_run
    hits = [ln for ln in out.splitlines() if any(p.search(ln) for p in NOISE)]
    assert not hits, "library noise in the demo output:\n" + "\n".join(hits[:20])
    assert re.search(r"step\s+\d+/\d+ \| loss", out) and "done in" in out  # our progress lines and summary stay
    assert "time per step" in out and "step:reason" in out  # its summary tables


def test_library_print_lines_leave_stdout_whole_lines_only(tmp_path: Path) -> None:
    """DeepSpeed print()s "DeepSpeed <op> built successfully" when it sets up the CPU backend (no logger to
    silence): the line goes to the log file only; text that merely starts like it, or arrives in pieces, passes."""
    code = textwrap.dedent("""
        import sys
        from huijin import quiet
        quiet.configure(False, sys.argv[1])
        print("D", end=""); print("one")
        print("DeepSpeed deepspeed.ops.comm.deepspeed_shm_comm_op built successfully")
        sys.stdout.write("DeepSpeed "); sys.stdout.write("x built successfully\\nDeepSpeed is fine\\n")
        sys.stdout.write("Dee"); sys.stdout.flush(); sys.stdout.write("p\\n")
        print("last", end="")
    """)
    log = tmp_path / "log.txt"
    env = {k: v for k, v in os.environ.items() if k != "HUIJIN_VERBOSE"}
    p = subprocess.run([sys.executable, "-c", code, str(log)], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Done\nDeepSpeed is fine\nDeep\nlast"
    kept = log.read_text(encoding="utf-8")
    assert "DeepSpeed deepspeed.ops.comm.deepspeed_shm_comm_op built successfully\n" in kept
    assert "DeepSpeed x built successfully\n" in kept
