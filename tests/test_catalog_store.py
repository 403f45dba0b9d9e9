"""The version store: shards, manifests, numbering, reuse, lineage, SQL, verify, rebuild, snapshots, runs."""

import json

import pyarrow.parquet as pq
import pytest

from catalogs import QueryError, SnapshotError, query
from catalogs.refs import RefError


def _docs(n, lang="en", prefix="doc"):
    return [{"text": f"{prefix} {i} revenue grew {i}%", "lang": lang, "source": "t"} for i in range(n)]


def test_writer_manifest_and_bounded_shards(store):
    with store.writer("fin-web", kind="doc", recipe={"step": "x"}, shard_rows=40, row_group_rows=10) as w:
        w.write(_docs(70, "en"))
        w.write(_docs(30, "zh", prefix="zh"))
        w.count_drop("too_short", 12)
        w.count_drop("lang", 3)
        w.add_inputs(115)
    m = w.manifest
    assert m.ref == "fin-web@1" and m.kind == "doc" and m.rows == 100
    assert [s.rows for s in m.shards] == [40, 40, 20]
    assert m.inputs == m.rows + m.dropped + m.n_quarantined == 115
    assert m.drops == {"too_short": 12, "lang": 3}
    assert m.stats["lang"] == {"en": 70, "zh": 30}
    assert m.recipe == {"step": "x"} and len(m.recipe_hash) == 16 and m.code_version
    path = store.path_of(m)
    man = json.loads((path / "manifest.json").read_text())
    assert man["shards"][0]["sha256"] == m.shards[0].sha256 and len(man["shards"][0]["sha256"]) == 64
    meta = pq.ParquetFile(path / m.shards[0].path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert [f["name"] for f in man["schema"]] == ["id", "text", "source", "url", "lang", "scores", "meta"]
    assert not list((store.root / "staging").iterdir()), "staging folder must be gone after commit"


def test_numbering_refs_and_reuse(store):
    with store.writer("a", kind="doc") as w:
        w.write(_docs(3))
    with store.writer("a", kind="doc") as w:
        w.write(_docs(4))
    with store.writer("a", kind="doc") as w:  # same content/recipe/parents as @2: reused, no @3
        w.write(_docs(4))
    assert w.manifest.version == 2
    assert [r["version"] for r in store.ls("a")] == [1, 2]
    assert store.resolve("a").version == 2 and store.resolve("a@latest").version == 2
    assert store.resolve("a@1").rows == 3
    with pytest.raises(RefError, match="no version a@7"):
        store.resolve("a@7")


def test_failed_writer_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.writer("b", kind="doc") as w:
            w.write(_docs(5))
            raise RuntimeError("boom")
    assert store.ls("b") == [] and not list((store.root / "staging").iterdir())
    assert not (store.root / "versions" / "b").exists() or not list((store.root / "versions" / "b").iterdir())


def test_lineage_three_generations(store):
    with store.writer("raw", kind="doc") as w:
        w.write(_docs(5))
    with store.writer("other", kind="doc") as w:
        w.write(_docs(2, prefix="o"))
    with store.writer("clean", kind="doc", parents=["raw"]) as w:
        w.write(_docs(4))
    with store.writer("mix", kind="doc", parents=["clean@1", "other"]) as w:
        w.write(_docs(3))
    lin = store.lineage("mix")
    assert [(r["depth"], r["name"], r["version"]) for r in lin] == [(1, "clean", 1), (1, "other", 1), (2, "raw", 1)]
    assert lin[2]["child"] == "clean@1"
    assert [d["name"] for d in store.descendants("raw@1")] == ["clean", "mix"]
    assert store.resolve("mix").parents[0]["hash"] == store.resolve("clean").hash


def test_rows_sql_and_read_only(store):
    with store.writer("fin-web", kind="doc") as w:
        w.write(_docs(6, "en") + _docs(4, "zh", prefix="z"))
    cols, rows = query(store, "select lang, count(*) as n from rows('fin-web@1') group by 1 order by 1")
    assert cols == ["lang", "n"] and rows == [("en", 6), ("zh", 4)]
    cols, rows = query(store, "select v.name, count(*) from versions v join rows('fin-web') r on true group by 1")
    assert rows == [("fin-web", 10)]
    for bad in ["create table t(x int)", "copy (select 1) to 'x.csv'", "attach 'x.db'", "insert into runs values (1)",
                "set enable_external_access=true", "install httpfs", "pragma version"]:
        with pytest.raises(QueryError):
            query(store, bad)
    with pytest.raises(QueryError):  # file functions outside the store are refused by the sandbox
        query(store, "select * from read_text('/etc/passwd')")


def test_verify_catches_flipped_byte(store):
    with store.writer("v", kind="doc") as w:
        w.write(_docs(50))
    assert store.verify() == []
    shard = store.shard_paths("v@1")[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    problems = store.verify("v@1")
    assert len(problems) == 1 and problems[0]["problem"] == "sha256 mismatch" and problems[0]["file"] == str(shard)
    shard.unlink()
    assert store.verify()[0]["problem"] == "missing"


def test_rebuild_gives_same_answers(store):
    with store.writer("r", kind="doc") as w:
        w.write(_docs(5))
        w.count_drop("dup", 2)
    with store.writer("r2", kind="doc", parents=["r"]) as w:
        w.write(_docs(2))
    store.snapshots.create("s", {"cpt": [("r", 0.5), ("r2", 0.5)]})
    rid = store.runs.start("cpt", snapshot="s", config={"lr": 0.1})
    store.runs.finish(rid, metrics={"loss": 1.0}, output_model="/models/x")
    before = store.table_dump()
    store.index.path.unlink()
    assert store.rebuild() == {"versions": 2, "snapshots": 1, "runs": 1}
    assert store.table_dump() == before


def test_snapshot_immutability_and_show(store, tmp_path):
    with store.writer("f", kind="doc") as w:
        w.write(_docs(5))
    tok = tmp_path / "tok.json"
    tok.write_text('{"model": "bpe"}')
    s1 = store.snapshots.create("s1", {"cpt": [("f", 0.7)]}, tokenizer=str(tok))
    assert s1["stages"]["cpt"][0] == {"dataset": "f", "version": 1, "hash": store.resolve("f").hash, "weight": 0.7}
    assert store.snapshots.create("s1", {"cpt": [("f@1", 0.7)]}, tokenizer=str(tok))["hash"] == s1["hash"]
    with pytest.raises(SnapshotError, match="already exists with different content"):
        store.snapshots.create("s1", {"cpt": [("f", 0.5)]}, tokenizer=str(tok))
    with store.writer("f", kind="doc") as w:  # a new version does not move the pinned snapshot
        w.write(_docs(6))
    shown = store.snapshots.show("s1")
    e = shown["stages"]["cpt"][0]
    assert e["version"] == 1 and e["rows"] == 5 and e["shards"][0]["sha256"] == store.resolve("f@1").shards[0].sha256
    assert shown["tokenizer"]["sha256"] and len(store.snapshots.ls()) == 1


def test_runs_and_data_of_model(store):
    with store.writer("fin", kind="doc") as w:
        w.write(_docs(5))
    with store.writer("sft", kind="sft") as w:
        w.write([{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}])
    store.snapshots.create("snap", {"cpt": [("fin", 1.0)], "sft": [("sft", 1.0)]})
    r1 = store.runs.start("cpt", snapshot="snap", input_model="tiny", config={"lr": 1e-3})
    store.runs.update(r1, metrics={"loss": 2.0}, checkpoint="/ck/1")
    store.runs.finish(r1, output_model="/m/cpt")
    r2 = store.runs.start("sft", snapshot="snap", input_model="/m/cpt")
    store.runs.finish(r2, output_model="/m/sft", status="failed")
    runs = {r["run_id"]: r for r in store.runs.ls()}
    assert runs[r1]["status"] == "completed" and runs[r2]["status"] == "failed"
    assert json.loads(runs[r1]["metrics"]) == {"loss": 2.0}
    assert [(d["stage"], d["dataset"]) for d in store.runs.data_of_model("/m/sft")] == [("sft", "sft")]
    assert store.runs.get(r1)["checkpoints"] == ["/ck/1"]


def test_artifact_versions(store, tmp_path):
    with store.writer("train-data", kind="doc") as w:
        w.write(_docs(5))
    model = tmp_path / "clf.ftz"
    model.write_bytes(b"\x00fasttext-model")
    m = store.artifacts.register("fin-clf", "classifier", model, parents=["train-data"], metrics={"f1": 0.98})
    assert m.kind == "artifact" and store.artifacts.path("fin-clf").read_bytes() == b"\x00fasttext-model"
    arts = store.artifacts.ls()
    assert arts[0]["artifact_kind"] == "classifier" and json.loads(arts[0]["metrics"]) == {"f1": 0.98}
    assert store.lineage("fin-clf")[0]["name"] == "train-data"
