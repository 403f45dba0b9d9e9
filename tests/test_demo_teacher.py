"""`huijin demo` with a teacher configured through HUIJIN_TEACHER_URL: grounded SFT is generated from the
curated pages, pinned in the snapshot, and the key (held in the variable HUIJIN_TEACHER_KEY_ENV names) is
written nowhere."""

from __future__ import annotations

from catalogs import Store
from huijin.demo.chain import STEPS, run_chain
from synthesis.testing.server import FakeOpenAIServer


def test_demo_uses_the_teacher_from_the_environment(tmp_path, monkeypatch):
    secret = "sk-demo-teacher-0123456789"
    with FakeOpenAIServer(api_key=secret) as srv:
        monkeypatch.setenv("HUIJIN_TEACHER_URL", srv.base_url)
        monkeypatch.setenv("HUIJIN_TEACHER_MODEL", "fake-teacher")
        monkeypatch.setenv("HUIJIN_TEACHER_KEY_ENV", "DEMO_TEACHER_KEY")
        monkeypatch.setenv("DEMO_TEACHER_KEY", secret)
        steps = [st for st in STEPS if not st[0].startswith(("train", "evaluate"))]
        state = run_chain(Store.open(tmp_path / "store"), tmp_path / "work", quick=True, steps=steps)
    store = state.store
    m = store.resolve("demo-grounded-sft")
    assert m.kind == "sft" and m.rows > 0 and m.parents[0]["name"] == "demo-web-fin"
    rows = store.read_table(m).to_pylist()
    assert all(r["source"]["teacher"] and r["source"]["request_hash"] for r in rows)
    snap = store.snapshots.get(state.refs["snapshot"])
    assert "demo-grounded-sft" in {e["dataset"] for e in snap["stages"]["sft"]}
    assert any("fake-teacher" in n for n in state.notes)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f"teacher key leaked into {f}"
