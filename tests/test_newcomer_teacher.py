"""Issue 18 items 1 and 2: a dead teacher stops a run in seconds with the endpoint and cause named and no version
written; connection failures in a row stop a run; a piped run prints progress with an ETA; a run that keeps no
row commits nothing; unknown --set / --config keys are refused with the nearest valid name."""

from __future__ import annotations

import socket
import time

import pytest
import yaml
from typer.testing import CliRunner

from huijin.cli import app
from synthesis.teachers import Accounting, LiveProgress, Request, TeacherClient, TeacherError
from synthesis.teachers.preflight import preflight
from synthesis.testing import FakeOpenAIServer


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _teachers(tmp_path, base_url: str, **kw) -> str:
    p = tmp_path / "teachers.yaml"
    p.write_text(yaml.safe_dump({"endpoints": [{"name": "vllm-local", "base_url": base_url, "model": "m", **kw}]}))
    return str(p)


def test_dead_endpoint_is_an_error_within_10s_and_no_version(tmp_path):
    teachers = _teachers(tmp_path, f"http://127.0.0.1:{_dead_port()}/v1")  # default retries: 8, timeout 120 s
    store = tmp_path / "store"
    t0 = time.monotonic()
    r = CliRunner().invoke(app, ["synth", "run", "evolution", "--endpoint", "vllm-local", "--teachers", teachers,
                                 "--store", str(store)])
    took = time.monotonic() - t0
    assert r.exit_code != 0 and took < 10, (took, r.output)
    out = " ".join(r.output.split())
    assert "'vllm-local'" in out and "unreachable" in out and "no version written" in out
    from catalogs import Store

    assert Store.open(store).ls() == []


def test_preflight_passes_a_live_server_and_names_a_bad_key(monkeypatch):
    with FakeOpenAIServer() as srv:
        preflight(srv.endpoint())  # up: no error, one GET, no completion paid
        assert srv.n_requests == 0
    monkeypatch.setenv("TEACHER_KEY_T", "sk-wrong-key-123")
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Deny(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"error": {"message": "invalid api key"}}'
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Deny)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        from synthesis.teachers import Endpoint

        ep = Endpoint(name="paid", base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1", model="m",
                      api_key_env="TEACHER_KEY_T")
        with pytest.raises(TeacherError, match=r"'paid'.*401 invalid api key.*TEACHER_KEY_T") as e:
            preflight(ep)
        assert "sk-wrong" not in str(e.value)
    finally:
        httpd.shutdown()


def test_connection_failures_in_a_row_stop_the_run_with_the_top_reasons():
    with FakeOpenAIServer() as srv:
        srv.enqueue(*["drop"] * 500)  # the server closes every connection without a reply
        c = TeacherClient(srv.endpoint(max_retries=50, max_consecutive_failures=6, max_concurrency=2),
                          backoff_base=0.001, backoff_cap=0.01)
        reqs = [Request([{"role": "user", "content": f"q{i}"}], id=f"r{i}") for i in range(40)]
        with pytest.raises(TeacherError, match=r"'fake'.*6 connection failures in a row.*top errors: connection"):
            c.run(reqs)
        assert srv.n_requests < 12  # stopped, not 40 rows × 51 attempts


def test_a_success_resets_the_count():
    with FakeOpenAIServer() as srv:
        srv.enqueue("drop", "drop", "drop")
        c = TeacherClient(srv.endpoint(max_retries=5, max_consecutive_failures=4, max_concurrency=1),
                          backoff_base=0.001, backoff_cap=0.01)
        out = c.run([Request([{"role": "user", "content": f"q{i}"}], id=f"r{i}") for i in range(3)])
        assert all(r.ok for r in out)


def test_piped_progress_prints_lines_with_an_eta(monkeypatch, capsys):
    import synthesis.teachers.accounting as acc_mod

    monkeypatch.setattr(acc_mod, "PLAIN_EVERY_S", 0.0)
    acc = Accounting()
    with LiveProgress(acc, total=10, title="evolution round 1", enabled=True) as live:
        for _ in range(4):
            acc.of("t").replies += 1
            time.sleep(0.01)
            live.advance()
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("evolution round 1:")]
    assert len(lines) >= 4 and "4/10 rows" in err and "ETA" in lines[0]


def test_a_run_that_keeps_nothing_writes_no_version(store, tmp_path):
    from synthesis.generators import run
    from synthesis.generators.runner import EmptyRun

    with FakeOpenAIServer() as srv:  # schema-shaped filler answers: every evolved question fails its checks
        with pytest.raises(EmptyRun, match=r"kept no row, so no version was written — sft: \d+ inputs, 0 kept \("):
            run("evolution", store, endpoint=srv.endpoint(max_retries=0, parse_retries=0),
                overrides={"total": 4, "max_rounds": 1})
    assert store.ls() == []


# -- item 2: unknown keys --------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, said", [
    (["--set", "max_stepz=3"], "unknown key 'max_stepz'; did you mean 'max_steps'?"),
    (["--set", "sft.lrr=1e-5"], "unknown key 'sft.lrr'; did you mean 'lr'?"),
    (["--set", "sftt.lr=1e-5"], "unknown stage 'sftt'; did you mean 'sft'?"),
])
def test_train_run_refuses_unknown_set_keys(tmp_path, args, said):
    r = CliRunner().invoke(app, ["train", "run", "--snapshot", "s@1", "--output", str(tmp_path / "o"),
                                 "--store", str(tmp_path / "st"), *args])
    assert r.exit_code == 2 and said in " ".join(r.output.split()), r.output


def test_train_run_refuses_unknown_config_file_keys(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("warmup_step: 2\nsft: {lr: 1.0e-5}\n")
    r = CliRunner().invoke(app, ["train", "run", "--snapshot", "s@1", "--output", str(tmp_path / "o"),
                                 "--config", str(cfg), "--store", str(tmp_path / "st")])
    assert r.exit_code == 2 and "unknown key 'warmup_step'; did you mean 'warmup_steps'?" in r.output


def test_known_keys_pass_the_check():
    from training.config_keys import check_keys

    check_keys({"max_steps": 3, "lr": 1e-3, "sft": {"lr": 1e-5, "epochs": 2.0}, "reasoning_rl": {"group_size": 4},
                "eval_suite": "fin_dev", "tiny_model": {"hidden_size": 64}})


def test_synth_run_refuses_a_misspelled_recipe_key(tmp_path):
    r = CliRunner().invoke(app, ["synth", "run", "programmatic_tables", "--set", "program_fractoin=0.5",
                                 "--store", str(tmp_path / "st")])
    assert r.exit_code == 2 and "unknown key 'program_fractoin'; did you mean 'program_fraction'?" in r.output


def test_synth_label_checks_the_endpoint_first(store, tmp_path):
    with store.writer("tweets", "sft") as w:
        w.write([{"messages": [{"role": "user", "content": "Stocks look bullish"},
                               {"role": "assistant", "content": "positive"}]}])
    teachers = _teachers(tmp_path, f"http://127.0.0.1:{_dead_port()}/v1")
    r = CliRunner().invoke(app, ["synth", "label", "tweets@1", "--endpoint", "vllm-local", "--teachers", teachers,
                                 "--no-progress", "--store", str(store.root)])
    assert r.exit_code == 1 and "'vllm-local'" in r.output and "unreachable" in " ".join(r.output.split())
    assert [m["name"] for m in store.ls()] == ["tweets"]
