"""Teacher client throughput: sliding window vs Little's-law bound vs a lock-step batch client.

A real OpenAI-compatible server (synthesis.testing, in its own process) answers with injected latency:
``latency`` ± ``jitter`` seconds, and one reply in ``slow_every`` takes ``slow_latency``. At concurrency C the
best possible rate is C / E[latency] (Little's law). The lock-step client is what distilabel-style batching
does: ``asyncio.gather`` over a batch of C requests, then the next batch. Prints one JSON object.

    python bench/teacher.py [--n 1200] [--concurrency 32] [--latency 0.2] [--slow-every 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthesis.teachers import Endpoint, Request, TeacherClient  # noqa: E402


def start_server(a: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = 18000 + os.getpid() % 1000
    p = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "synthesis.testing.server", "--port", str(port), "--latency",
                          str(a.latency), "--jitter", str(a.jitter), "--slow-every", str(a.slow_every),
                          "--slow-latency", str(a.slow_latency), "--seed", "1"],
                         cwd=ROOT, stdout=subprocess.PIPE, text=True)
    url = p.stdout.readline().strip()
    return p, url


def requests(n: int, tag: str) -> list[Request]:
    return [Request([{"role": "user", "content": f"{tag} question {i}"}], id=str(i)) for i in range(n)]


def endpoint(url: str, c: int) -> Endpoint:
    return Endpoint(name="bench", base_url=url, model="fake-model", max_concurrency=c, concurrency="fixed",
                    timeout=30, params={"max_tokens": 64})


async def sliding(client: TeacherClient, reqs: list[Request]) -> list[float]:
    """Completion times of every reply (perf_counter), through the client's sliding window."""
    times = []
    try:
        async for _ in client.map(reqs):
            times.append(time.perf_counter())
    finally:
        await client.aclose()
    return times


def steady_rate(t0: float, times: list[float]) -> float:
    """Replies per second between the 10th and 90th percentile completions: no ramp-up, no drain tail."""
    k10, k90 = len(times) // 10, (9 * len(times)) // 10
    return (k90 - k10) / (times[k90] - times[k10])


async def lock_step(client: TeacherClient, reqs: list[Request], c: int) -> None:
    for i in range(0, len(reqs), c):
        await asyncio.gather(*(client.complete(r) for r in reqs[i:i + c]))
    await client.aclose()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)  # long enough that start-up and the last slow replies are amortised
    ap.add_argument("--n-lockstep", type=int, default=320)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--jitter", type=float, default=0.05)
    ap.add_argument("--slow-every", type=int, default=20)
    ap.add_argument("--slow-latency", type=float, default=1.0)
    a = ap.parse_args()
    p, url = start_server(a)
    try:
        c, n = a.concurrency, a.n
        mean_latency = (1 - 1 / a.slow_every) * a.latency + a.slow_latency / a.slow_every if a.slow_every else a.latency
        bound = c / mean_latency
        TeacherClient(endpoint(url, c)).run(requests(c, "warmup"))  # connections, imports
        with tempfile.TemporaryDirectory() as tmp:
            ours = TeacherClient(endpoint(url, c), cache=Path(tmp) / "cache.sqlite")
            t0 = time.perf_counter()
            times = asyncio.run(sliding(ours, requests(n, "ours")))
            t_ours = times[-1] - t0
            again = TeacherClient(endpoint(url, c), cache=Path(tmp) / "cache.sqlite")
            t_cached = timed(lambda: again.run(requests(n, "ours")))
            assert again.accounting.total().requests == 0
        ls = TeacherClient(endpoint(url, c))
        n_lock = min(n, a.n_lockstep)
        t_lock = timed(lambda: asyncio.run(lock_step(ls, requests(n_lock, "lockstep"), c)))
        ours_rate, lock_rate, ours_steady = n / t_ours, n_lock / t_lock, steady_rate(t0, times)
        obs_latency = ours.accounting.total().latency_s / max(1, ours.accounting.total().ok)
        print(json.dumps({
            "bench": "teacher_client", "n": n, "concurrency": c, "latency_s": a.latency, "jitter_s": a.jitter,
            "slow_every": a.slow_every, "slow_latency_s": a.slow_latency, "mean_latency_s": round(mean_latency, 4),
            "littles_law_bound_req_s": round(bound, 1), "ours_req_s": round(ours_rate, 1),
            "ours_steady_req_s": round(ours_steady, 1), "ours_vs_bound": round(ours_rate / bound, 3),
            "ours_steady_vs_bound": round(ours_steady / bound, 3),
            "ours_mean_latency_s": round(obs_latency, 4),
            # C / the latency the client actually saw: what is left once server-side slowdown is taken out
            "ours_steady_vs_observed_bound": round(ours_steady / (c / obs_latency), 3),
            "lockstep_n": n_lock, "lockstep_req_s": round(lock_rate, 1), "ours_vs_lockstep": round(ours_rate / lock_rate, 2),
            "peak_in_flight": ours.limit.peak_in_flight if ours.limit else None,
            "resume_all_cached_req_s": round(n / t_cached, 1),
            "goal": {"vs_bound": ">= 0.90", "vs_lockstep": ">= 2.0"},
        }, indent=1))
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
