"""The `huijin catalog` commands as a user runs them."""

import json

from typer.testing import CliRunner

from huijin.cli import app

runner = CliRunner()


def _run(*args, ok=True):
    r = runner.invoke(app, list(args))
    if ok:
        assert r.exit_code == 0, r.output
    return r


def test_import_ls_show_query_snapshot(tmp_path):
    st = str(tmp_path / "store")
    f = tmp_path / "docs.jsonl"
    f.write_text("\n".join(json.dumps({"body": f"filing {i}", "language": "en" if i % 3 else "zh", "cik": i})
                           for i in range(9)) + "\n")
    _run("catalog", "init", "--store", st)
    _run("catalog", "import", str(f), "--kind", "doc", "--name", "filings", "--text-field", "body",
         "--map", "language=lang", "--store", st)
    listing = json.loads(_run("catalog", "ls", "--json", "--store", st).stdout)
    assert listing[0]["name"] == "filings" and listing[0]["version"] == 1 and listing[0]["rows"] == 9
    assert {"name", "version", "kind", "rows", "hash"} <= set(listing[0])
    shown = json.loads(_run("catalog", "show", "filings@1", "--json", "--store", st).stdout)
    assert shown["stats"]["lang"] == {"en": 6, "zh": 3} and shown["inputs"] == 9
    out = json.loads(_run("catalog", "query", "select lang, count(*) n, min(json_extract(meta, '$.cik')::int) c "
                               "from rows('filings') group by 1 order by 1", "--json", "--store", st).stdout)
    assert out == [{"lang": "en", "n": 6, "c": 1}, {"lang": "zh", "n": 3, "c": 0}]
    csv = _run("catalog", "query", "select name, rows from versions", "--csv", "--store", st).stdout
    assert csv.splitlines() == ["name,rows", "filings,9"]
    _run("catalog", "snapshot", "create", "s1", "--stage", "cpt=filings@1:0.7,filings:0.3", "--store", st)
    snap = json.loads(_run("catalog", "snapshot", "show", "s1", "--json", "--store", st).stdout)
    assert [e["weight"] for e in snap["stages"]["cpt"]] == [0.7, 0.3]
    r = _run("catalog", "snapshot", "create", "s1", "--stage", "cpt=filings@1:0.5", "--store", st, ok=False)
    assert r.exit_code == 1 and "immutable" in r.output
    r = _run("catalog", "query", "delete from versions", "--store", st, ok=False)
    assert r.exit_code == 1 and "read-only" in r.output
    assert "filings" in _run("catalog", "lineage", "filings", "--store", st).stdout


def test_import_bad_records_error_or_quarantine(tmp_path):
    st = str(tmp_path / "store")
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b'{"text": "good one"}\n{"text": ""}\n{not json\n\xff\xfe\n[1, 2]\n{"text": "good two"}\n')
    r = _run("catalog", "import", str(f), "--kind", "doc", "--name", "x", "--store", st, ok=False)
    assert r.exit_code == 1 and f"{f}:2" in r.output and "'text' must be a non-empty string" in r.output
    r = _run("catalog", "import", str(f), "--kind", "doc", "--name", "x", "--on-error", "quarantine", "--store", st)
    from catalogs import Store

    store = Store.open(st)
    m = store.resolve("x")
    assert m.rows == 2 and m.n_quarantined == 4 and m.inputs == 6
    q = store.read_quarantine("x").to_pylist()
    assert [row["offset"] for row in q] == [2, 3, 4, 5]
    assert q[1]["reason"].startswith("invalid JSON") and q[2]["reason"].startswith("invalid utf-8")
    assert all(row["file"] == str(f) for row in q)


def test_verify_and_rebuild_commands(tmp_path):
    st = str(tmp_path / "store")
    f = tmp_path / "d.jsonl"
    f.write_text('{"text": "a"}\n{"text": "b"}\n')
    _run("catalog", "import", str(f), "--kind", "doc", "--name", "d", "--store", st)
    assert "all shards match" in _run("catalog", "verify", "--store", st).stdout
    from catalogs import Store

    shard = Store.open(st).shard_paths("d")[0]
    shard.write_bytes(shard.read_bytes()[:-1] + b"\x00")
    r = _run("catalog", "verify", "d@1", "--store", st, ok=False)
    assert r.exit_code == 1 and "sha256 mismatch" in r.output
    assert json.loads(_run("catalog", "rebuild", "--store", st, "--json").stdout)["versions"] == 1
    r = _run("catalog", "show", "nope", "--store", st, ok=False)
    assert r.exit_code == 2 and "no version nope@latest" in r.output  # a bad ref: exit 2, one line
