"""Integration: the teacher client against `transformers serve` on a tiny local random-init model (offline)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="transformers[serving] extra not installed")
pytest.importorskip("uvicorn", reason="transformers[serving] extra not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("transformers serve did not come up")


def test_client_against_transformers_serve(tmp_path):
    from synthesis.teachers import Endpoint, Request, RequestCache, TeacherClient
    from training.tiny import tiny_chat_model

    model = tiny_chat_model(tmp_path / "tiny")
    exe = shutil.which("transformers", path=str(Path(sys.executable).parent)) or "transformers"
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([exe, "serve", str(model), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
                             "--default-seed", "0"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        ep = Endpoint(name="tserve", base_url=f"http://127.0.0.1:{port}/v1", model=str(model), max_concurrency=2,
                      timeout=60, params={"max_tokens": 6, "temperature": 0.0})
        cache = RequestCache(tmp_path / "cache.sqlite")
        client = TeacherClient(ep, cache=cache)
        reqs = [Request([{"role": "user", "content": f"What was revenue in {y}?"}], id=str(y)) for y in (2021, 2022, 2023)]
        replies = client.run(reqs)
        assert all(r.ok for r in replies), [r.error for r in replies]
        for r in replies:
            assert r.finish_reason in ("length", "stop") and 0 < r.output_tokens <= 6 and r.input_tokens > 0
            assert r.teacher == f"tserve:{model}" and isinstance(r.content, str)
        acc = client.accounting.to_dict()["total"]
        assert acc["requests"] == 3 and acc["output_tokens"] == sum(r.output_tokens for r in replies)
        again = TeacherClient(ep, cache=cache).run(reqs)
        assert all(r.cached for r in again) and [r.content for r in again] == [r.content for r in replies]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
