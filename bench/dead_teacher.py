"""How long a run against a dead teacher endpoint takes to say so (issue 18 item 1), in one run:

- ``preflight``: huijin's check before a run (one ``GET /models``);
- ``consecutive_stop``: a run that skipped the check, stopped by ``max_consecutive_failures`` (default 32);
- ``openai_one_request``: the anchor, one ``chat.completions.create`` with the openai client's own default
  retries (what a caller of the bare library waits per request);
- ``before`` (estimated): the issue's report, 2,340 failed requests over 109 s before round 2 started.

Prints JSON with seconds and the ratios to the anchor.

    python bench/dead_teacher.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import socket
import time


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    a = ap.parse_args()

    import openai

    from synthesis.teachers import Endpoint, Request, TeacherClient, TeacherError
    from synthesis.teachers.preflight import preflight

    ep = Endpoint(name="dead", base_url=dead_url(), model="m")  # defaults: 8 retries, timeout 120 s
    out: dict = {"endpoint_defaults": {"max_retries": ep.max_retries, "timeout_s": ep.timeout,
                                       "max_consecutive_failures": ep.max_consecutive_failures}}

    t0 = time.perf_counter()
    try:
        preflight(ep)
    except TeacherError as e:
        out["preflight"] = {"seconds": round(time.perf_counter() - t0, 3), "error": str(e)[:160]}

    client = TeacherClient(ep)
    reqs = [Request([{"role": "user", "content": f"q{i}"}], id=str(i)) for i in range(a.requests)]
    t0 = time.perf_counter()
    try:
        client.run(reqs)
    except TeacherError as e:
        t = client.accounting.total()
        out["consecutive_stop"] = {"seconds": round(time.perf_counter() - t0, 3), "requests_sent": t.requests,
                                   "error": str(e)[:160]}

    c = openai.OpenAI(base_url=ep.base_url, api_key="EMPTY")  # the library's default retries and timeout
    t0 = time.perf_counter()
    try:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    except openai.APIConnectionError as e:
        out["openai_one_request"] = {"seconds": round(time.perf_counter() - t0, 3), "error": str(e)[:80]}
    anchor = out["openai_one_request"]["seconds"]
    out["before_issue_18"] = {"seconds": 109.0, "requests_sent": 2340, "source": "issue 18's report"}
    out["ratio_preflight_to_openai_one_request"] = round(out["preflight"]["seconds"] / anchor, 3)
    out["ratio_consecutive_stop_to_openai_one_request"] = round(out["consecutive_stop"]["seconds"] / anchor, 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
