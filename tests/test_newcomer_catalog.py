"""Issue 18 item 4: honest artifacts and catalog output — a model's hash covers all its files, --csv writes JSON
for nested values, show names the folder and the quarantine shard, lineage reaches raw files, rebuild prints a
table or JSON, and .md/.txt notes in input folders are not read as documents unless asked."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from catalogs.snapshots import tree_sha256
from curation.sources import expand_inputs
from huijin.cli import app


def cli(store, *args):
    r = CliRunner().invoke(app, [*args, "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    return r.output


def _model(folder, weights: bytes):
    folder.mkdir(parents=True)
    (folder / "chat_template.jinja").write_text("{{ messages }}")  # the same in every model
    (folder / "config.json").write_text('{"hidden_size": 64}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_artifact_hash_covers_every_weight_file(store, tmp_path):
    a = _model(tmp_path / "a", b"\x00" * 64)
    b = _model(tmp_path / "b", b"\x01" * 64)
    store.artifacts.register("model-a", "model", a)
    store.artifacts.register("model-b", "model", b)
    store.artifacts.register("vocab", "tokenizer", _write(tmp_path / "vocab.json", '{"a": 1}'))
    rows = {r["name"]: r for r in json.loads(cli(store, "catalog", "artifacts", "--json"))}
    assert rows["model-a"]["sha256"] != rows["model-b"]["sha256"]  # was: both chat_template.jinja's hash
    assert rows["model-a"]["sha256"] == tree_sha256(a) and rows["model-b"]["sha256"] == tree_sha256(b)
    assert rows["model-a"]["path"].endswith("model-a/1-" + store.resolve("model-a@1").hash[:8])  # the folder
    assert rows["vocab"]["sha256"] == tree_sha256(tmp_path / "vocab.json") and rows["vocab"]["path"].endswith("vocab.json")
    assert store.artifacts.path("model-a@1").is_dir() and store.artifacts.path("vocab@1").is_file()
    # the hash survives a rebuild of the catalog from the manifests
    cli(store, "catalog", "rebuild")
    again = {r["name"]: r["sha256"] for r in json.loads(cli(store, "catalog", "artifacts", "--json"))}
    assert again["model-a"] == tree_sha256(a)


def _write(p, text):
    p.write_text(text)
    return p


def test_query_csv_writes_json_for_nested_values(store):
    out = cli(store, "catalog", "query", "SELECT MAP {'a': 0.99} AS m, [1, 2] AS l, {'x': 'y'} AS s, NULL AS n, "
                                        "'plain' AS t", "--csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["m", "l", "s", "n", "t"]
    assert json.loads(rows[1][0]) == {"a": 0.99} and json.loads(rows[1][1]) == [1, 2]
    assert json.loads(rows[1][2]) == {"x": "y"} and rows[1][3] == "" and rows[1][4] == "plain"


def test_show_names_the_folder_and_quarantine_shard_and_lineage_reaches_raw_files(store, tmp_path):
    src = _write(tmp_path / "docs.jsonl", '{"text": "a filing", "lang": "en"}\nnot json\n')
    cli(store, "catalog", "import", str(src), "--kind", "doc", "--name", "docs", "--on-error", "quarantine")
    shown = json.loads(cli(store, "catalog", "show", "docs@1", "--json"))
    folder = store.path_of(store.resolve("docs@1"))
    assert shown["folder"] == str(folder)
    assert len(shown["quarantine_shards"]) == 1 and shown["quarantine_shards"][0].startswith(str(folder / "quarantine"))
    text = " ".join(cli(store, "catalog", "show", "docs@1").split())
    assert f"folder: {folder}" in text and "quarantine shard(s)" in text
    with store.writer("docs-clean", kind="doc", parents=["docs@1"]) as w:
        w.write([{"text": "a filing", "lang": "en"}])
    rows = json.loads(cli(store, "catalog", "lineage", "docs-clean@1", "--json"))
    assert [(r["depth"], r["name"], r["kind"]) for r in rows] == [(1, "docs", "doc"), (2, str(src), "raw")]
    assert rows[1]["child"] == "docs@1"
    assert str(src.name) in cli(store, "catalog", "lineage", "docs-clean@1")


def test_rebuild_prints_a_table_or_json(store):
    with store.writer("d", kind="doc") as w:
        w.write([{"text": "x", "lang": "en"}])
    got = json.loads(cli(store, "catalog", "rebuild", "--json"))
    assert got["versions"] == 1 and got["snapshots"] == 0 and got["runs"] == 0
    text = cli(store, "catalog", "rebuild")
    assert "{" not in text and "versions" in text and "table" in text


def test_folder_inputs_skip_notes_unless_asked(tmp_path):
    d = tmp_path / "pages"
    d.mkdir()
    for name in ("a.jsonl", "SOURCE.md", "notes.txt", "b.html"):
        (d / name).write_text("{}")
    skipped: list[str] = []
    assert [f for f, _ in expand_inputs([str(d)], skipped=skipped)] == ["jsonl", "html"]
    assert sorted(skipped) == [str(d / "SOURCE.md"), str(d / "notes.txt")]
    assert sorted(f for f, _ in expand_inputs([str(d)], text_in_folders=True)) == ["html", "jsonl", "text", "text"]
    assert expand_inputs([str(d / "notes.txt")]) == [("text", str(d / "notes.txt"))]  # named: read
