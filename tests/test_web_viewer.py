"""The catalog viewer (`huijin catalog serve`) in a real browser: headless Chromium (Debian's `chromium` +
`chromium-driver`, driven by selenium) opens every page of the demo store built by `huijin demo --quick`, checks
what each page shows against the catalog (funnel numbers = the manifest's, distributions, records, weights,
run curves and the ablation), clicks through the lineage graph, and saves a screenshot of each page under
tests/artifacts/web/. Without a browser the browser tests skip with the reason; the security checks (read-only
SQL, no file outside the package's assets, local hosts only, bounded queries) run with Starlette's client.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from catalogs import Store

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "web"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser_or_skip() -> tuple[str, str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium; it is in the dev extra)")
    binary = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    return binary, driver


@pytest.fixture(scope="module")
def viewer(demo_store: Path):
    """The viewer on a free local port, served by uvicorn in a thread of this process."""
    import uvicorn

    from huijin.web.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(demo_store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the viewer did not start"
    yield f"http://127.0.0.1:{port}", Store.open(demo_store, create=False)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    binary, driver_path = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = binary
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
              "--disable-extensions", "--no-first-run"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(driver_path), options=opts)
    drv.set_page_load_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield drv
    drv.quit()


def _open(drv, url: str, shot: str | None = None):
    from selenium.webdriver.common.by import By

    drv.get(url)
    assert "Internal Server Error" not in drv.page_source
    if shot:
        drv.save_screenshot(str(ARTIFACTS / f"{shot}.png"))
    return By


def _follow(drv, el) -> None:
    """Click a link or submit button and wait for the page it loads: a click returns before the navigation."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    old = drv.find_element(By.TAG_NAME, "html")
    el.click()
    WebDriverWait(drv, 60).until(EC.staleness_of(old))


def _cells(drv, css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in drv.find_elements(By.CSS_SELECTOR, css)]


def test_versions_page_lists_every_version_and_filters(viewer, browser) -> None:
    base, store = viewer
    By = _open(browser, base + "/", "versions")
    listed = {tr.get_attribute("data-ref"): tr for tr in browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")}
    expected = {f"{v['name']}@{v['version']}": v for v in store.ls()}
    assert set(listed) == set(expected)
    for ref, tr in listed.items():
        assert tr.find_element(By.CSS_SELECTOR, "td.rows").text.replace(",", "") == str(expected[ref]["rows"])
    _open(browser, base + "/?kind=rl&sort=rows")
    kinds = _cells(browser, "#versions tbody .kind")
    assert kinds and set(kinds) == {"rl"}
    rows = [int(x.replace(",", "")) for x in _cells(browser, "#versions tbody td.rows")]
    assert rows == sorted(rows, reverse=True)  # sorted by rows
    _open(browser, base + "/?parent=demo-web")  # children of demo-web
    assert {tr.get_attribute("data-ref") for tr in browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")} == {
        f"{d['name']}@{d['version']}" for d in store.descendants("demo-web@1") if d["depth"] == 1}


def test_version_page_funnel_distributions_rows_and_search(viewer, browser) -> None:
    base, store = viewer
    m = store.resolve("demo-web")
    By = _open(browser, f"{base}/v/{m.ref}", "version")
    assert browser.find_element(By.ID, "ref").text.startswith(m.ref)
    funnel = {tr.get_attribute("data-stage"): int(tr.get_attribute("data-n"))
              for tr in browser.find_elements(By.CSS_SELECTOR, "#funnel tbody tr")}
    assert funnel["inputs"] == m.inputs and funnel["kept"] == m.rows
    assert {k.removeprefix("dropped: "): v for k, v in funnel.items() if k.startswith("dropped: ")} == m.drops
    assert browser.find_element(By.ID, "funnel-sum").text == (
        f"{m.inputs} in = {m.rows} kept + {m.dropped} dropped + {m.n_quarantined} quarantined")
    bars = {g.get_attribute("data-label"): int(g.get_attribute("data-value"))
            for g in browser.find_elements(By.CSS_SELECTOR, "#dist-lang g.bar")}
    assert bars == m.stats["lang"]
    # dropped examples the curation run kept (excluded/), per step:reason, beside the manifest's count
    import pyarrow.parquet as pq

    kept = [pq.read_table(f).to_pylist() for f in sorted((store.path_of(m) / "excluded").glob("*.parquet"))]
    per_key: dict[str, int] = {}
    for r in (r for t in kept for r in t):
        per_key[r["key"]] = per_key.get(r["key"], 0) + 1
    groups = browser.find_elements(By.CSS_SELECTOR, "#dropped details.dgroup")
    assert {g.get_attribute("data-key"): (int(g.get_attribute("data-count")), int(g.get_attribute("data-shown")))
            for g in groups} == {k: (m.drops[k], min(3, n)) for k, n in per_key.items()}
    # the first page of rows: full text of the version's first records, in order
    first = [r for _, r in zip(range(10), store.iter_records(m), strict=False)]
    shown = browser.find_elements(By.CSS_SELECTOR, "#samples .record")
    assert [e.get_attribute("data-id") for e in shown] == [r["id"] for r in first]
    text0 = shown[0].find_element(By.CSS_SELECTOR, ".field-text .fval").text
    assert " ".join(text0.split()) == " ".join(first[0]["text"].split())
    _follow(browser, browser.find_element(By.ID, "next"))
    assert "page 2 of" in browser.find_element(By.ID, "pager").text
    # the search box runs a sandboxed rows() query
    _open(browser, f"{base}/v/{m.ref}")
    box = browser.find_element(By.ID, "search-sql")
    box.clear()
    box.send_keys(f"select lang, count(*) as n from rows('{m.ref}') group by lang order by lang")
    _follow(browser, browser.find_element(By.ID, "search-go"))
    got = {r.find_elements(By.TAG_NAME, "td")[0].text: int(r.find_elements(By.TAG_NAME, "td")[1].text)
           for r in browser.find_elements(By.CSS_SELECTOR, "#search-result tbody tr")}
    assert got == m.stats["lang"]
    browser.save_screenshot(str(ARTIFACTS / "search.png"))


def test_rl_records_render_messages_and_reward_spec_tables(viewer, browser) -> None:
    base, store = viewer
    m = store.resolve("demo-rl")
    By = _open(browser, f"{base}/v/{m.ref}", "version-rl")
    rec = next(store.iter_records(m))
    spec = json.loads(rec["reward_spec"])
    card = browser.find_element(By.CSS_SELECTOR, "#samples .record")
    roles = [e.text.lower() for e in card.find_elements(By.CSS_SELECTOR, ".field-prompt .msg .role")]
    assert roles == [msg["role"] for msg in rec["prompt"]]
    # the spec's table as an HTML table, the prompt's Markdown table too
    spec_rows = card.find_elements(By.CSS_SELECTOR, ".field-reward_spec table.rec-table tr")
    assert len(spec_rows) == len(spec["table"])
    assert [c.text for c in spec_rows[1].find_elements(By.TAG_NAME, "td")] == spec["table"][1]
    assert card.find_elements(By.CSS_SELECTOR, ".field-prompt table.rec-table")
    tax = {g.get_attribute("data-label"): int(g.get_attribute("data-value"))
           for g in browser.find_elements(By.CSS_SELECTOR, "#dist-taxonomy g.bar")}
    assert tax == m.stats["taxonomy"]


def test_lineage_click_through(viewer, browser) -> None:
    base, store = viewer
    By = _open(browser, base + "/lineage", "lineage")
    nodes = {e.get_attribute("data-node") for e in browser.find_elements(By.CSS_SELECTOR, "#lineage .node")}
    assert {f"v:{v['name']}@{v['version']}" for v in store.ls()} <= nodes
    assert any(n.startswith("s:") for n in nodes) and any(n.startswith("r:") for n in nodes)
    # click a version node → its page; its "lineage graph" link → the graph focused on it
    _follow(browser, browser.find_element(By.CSS_SELECTOR, '#lineage a[data-node="v:demo-web-fin@1"]'))
    assert browser.find_element(By.ID, "ref").text.startswith("demo-web-fin@1")
    _follow(browser, browser.find_element(By.ID, "to-lineage"))
    assert browser.find_element(By.ID, "focus").text == "v:demo-web-fin@1"
    hot = {e.get_attribute("data-node") for e in browser.find_elements(By.CSS_SELECTOR, "#lineage .node.related")}
    assert "v:demo-web@1" in hot  # its raw input
    assert any(n.startswith("s:") for n in hot) and any(n.startswith("r:") for n in hot)  # → snapshot → runs
    browser.save_screenshot(str(ARTIFACTS / "lineage-focus.png"))
    # and on from the graph to a run
    run_node = next(n for n in sorted(hot) if n.startswith("r:"))
    _follow(browser, browser.find_element(By.CSS_SELECTOR, f'#lineage a[data-node="{run_node}"]'))
    assert browser.find_element(By.ID, "run-id").text.startswith(run_node[2:])


def test_snapshot_runs_and_taxonomy_pages(viewer, browser) -> None:
    base, store = viewer
    snap = store.snapshots.ls()[0]["name"]
    spec = store.snapshots.show(snap)
    By = _open(browser, f"{base}/snapshots", "snapshots")
    assert snap in _cells(browser, "#snapshots td a")
    _open(browser, f"{base}/snapshots/{snap}", "snapshot")
    shown = {(t.get_attribute("data-stage"), tr.get_attribute("data-ref"), float(tr.get_attribute("data-weight")))
             for t in browser.find_elements(By.CSS_SELECTOR, "table.stage")
             for tr in t.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert shown == {(st, f"{e['dataset']}@{e['version']}", e["weight"]) for st, es in spec["stages"].items() for e in es}

    _open(browser, f"{base}/runs", "runs")
    runs = [r for r in store.runs.ls() if r["status"] == "completed"]
    assert {r["run_id"] for r in store.runs.ls()} == set(_cells(browser, "#runs tbody td:first-child a"))
    sft = next(r for r in runs if r["stage"] == "sft")
    rec = store.runs.get(sft["run_id"])
    _open(browser, f"{base}/runs/{sft['run_id']}")
    time.sleep(0.3)  # uPlot draws on load
    browser.save_screenshot(str(ARTIFACTS / "run.png"))
    assert f"{rec['metrics']['steps']} steps logged" == browser.find_element(By.ID, "steps-logged").text
    curves = {e.get_attribute("data-metric") for e in browser.find_elements(By.CSS_SELECTOR, "#curves .curve")}
    assert {"loss", "lr"} <= curves
    assert len(browser.find_elements(By.CSS_SELECTOR, "#curves canvas")) >= 2  # drawn by the vendored uPlot
    from training.evaluation.record import ablation, stage_table

    ab = ablation(store, [r["run_id"] for r in runs if r["snapshot"] == rec["snapshot"]])
    overall = next(r for r in ab["rows"] if r["metric"] == "overall")
    cells = browser.find_elements(By.CSS_SELECTOR, '#ablation tr[data-metric="overall"] td')
    assert [c.text for c in cells][1:] == [("—" if overall[c] is None else f"{overall[c]:.4g}" if isinstance(
        overall[c], float) else str(overall[c])) for c in ab["columns"][1:]]
    st = stage_table(store, rec["snapshot"])
    for name, per_stage in st["metrics"].items():
        points = browser.find_elements(By.CSS_SELECTOR, f'figure[data-metric="{name}"] .ci-point')
        assert {p.get_attribute("data-stage"): float(p.get_attribute("data-value")) for p in points} == pytest.approx(
            {s: c["value"] for s, c in per_stage.items() if c["value"] is not None}, rel=1e-5)

    _open(browser, f"{base}/taxonomy", "taxonomy")
    leaves = store.resolve("demo-rl").stats["taxonomy"]
    got = {td.find_element(By.XPATH, "..").get_attribute("data-leaf"): int(td.get_attribute("data-n"))
           for td in browser.find_elements(By.CSS_SELECTOR, '#heatmap td[data-version="demo-rl@1"]')}
    assert {k: v for k, v in got.items() if v} == leaves
    from synthesis.taxonomy.model import load_taxonomy

    known = set(load_taxonomy().leaves)  # every leaf is a row: the uncovered ones show as gaps
    assert set(got) == known | set(leaves)
    covered = {k for v in store.ls() for k in store.resolve(f"{v['name']}@{v['version']}").stats.get("taxonomy", {})}
    assert browser.find_element(By.ID, "covered").text == f"{len(covered & known)} of {len(known)} taxonomy leaves covered"


# -- security: no browser needed ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client(demo_store: Path):
    from starlette.testclient import TestClient

    from huijin.web.app import create_app

    return TestClient(create_app(demo_store), base_url="http://127.0.0.1"), demo_store


def test_read_only_bounded_and_confined(client) -> None:
    c, root = client
    before = hashlib.sha256((root / "catalog.duckdb").read_bytes()).hexdigest()
    for sql in ("drop table versions", "copy versions to '/tmp/x.csv'", "attach '/tmp/x.db'",
                "select * from read_csv('/etc/passwd')"):
        r = c.get("/search", params={"sql": sql})
        assert r.status_code == 200 and 'id="search-error"' in r.text, sql
    r = c.get("/search", params={"sql": "select * from range(100000)"})
    assert "stopped at the 200-row limit" in r.text  # every query is bounded in rows
    for path in ("/static/../catalog.duckdb", "/static/%2e%2e/%2e%2e/catalog.duckdb", "/static/../../pyproject.toml",
                 "/v/..%2F..%2Fcatalog.duckdb", "/catalog.duckdb", "/versions/demo-web"):
        assert c.get(path).status_code == 404, path
    assert c.get("/", headers={"host": "attacker.example"}).status_code == 400  # DNS rebinding: local hosts only
    assert c.get("/v/nope@1").status_code == 404 and "no version nope@1" in c.get("/v/nope@1").text
    for page in ("/", "/v/demo-web@1", "/lineage", "/runs", "/taxonomy", "/snapshots"):
        assert c.get(page).status_code == 200
    assert hashlib.sha256((root / "catalog.duckdb").read_bytes()).hexdigest() == before  # nothing written


def test_serve_binds_localhost_by_default_and_refuses_bad_input(tmp_path: Path) -> None:
    import inspect

    from typer.testing import CliRunner

    from huijin.cli import app
    from huijin.cli_catalog_view import serve as serve_cmd
    from huijin.web import serve

    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(serve_cmd).parameters["host"].default.default == "127.0.0.1"
    runner = CliRunner()
    r = runner.invoke(app, ["catalog", "serve", "--store", str(tmp_path / "none")])
    assert r.exit_code == 2 and "no huijin store" in r.output and "Traceback" not in r.output
    Store.open(tmp_path / "s")
    r = runner.invoke(app, ["catalog", "serve", "--port", "70000", "--store", str(tmp_path / "s")])
    assert r.exit_code == 2 and "--port 70000" in r.output


def test_record_text_and_sql_results_are_escaped(tmp_path: Path) -> None:
    """Records and query results are data, never markup: HTML in them is shown, not run."""
    from starlette.testclient import TestClient

    from huijin.web.app import create_app

    s = Store.open(tmp_path / "s")
    with s.writer("xss", kind="doc", recipe={"k": "<script>alert(1)</script>"}) as w:
        w.write([{"text": "<img src=x onerror=alert(1)>\n| a | b |\n|---|---|\n| <b>x</b> | y |", "lang": "en"}])
    c = TestClient(create_app(s.root), base_url="http://127.0.0.1")
    page = c.get("/v/xss@1").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert(1)" not in page and "<b>x</b>" not in page and "<td>&lt;b&gt;x&lt;/b&gt;</td>" in page
    page = c.get("/search", params={"sql": "select '<script>x</script>' as a"}).text
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_quarantine_samples_every_reason_however_many_records_another_has(tmp_path: Path) -> None:
    """The version page samples each quarantine reason class: 200 records of one class (sorted first, in the
    first files and offsets) do not hide the second class, whose records come last."""
    from huijin.web.queries import Catalog

    s = Store.open(tmp_path / "s")
    with s.writer("q", kind="doc") as w:
        w.write([{"text": "kept", "lang": "en"}])
        for i in range(200):
            w.quarantine(f"bad json (line {i})", file="a.jsonl", offset=i, record="{")
        for i in range(2):
            w.quarantine(f"missing field: text (line {i})", file="b.jsonl", offset=i, record="{}")
    m = s.resolve("q@1")
    assert m.quarantined == {"bad json": 200, "missing field": 2}
    got = Catalog(s.root).quarantine("q@1", per_reason=3)
    assert [g["reason"] for g in got] == ["bad json", "missing field"]
    assert [(x["file"], x["offset"]) for x in got[0]["samples"]] == [("a.jsonl", 0), ("a.jsonl", 1), ("a.jsonl", 2)]
    assert [x["reason"] for x in got[1]["samples"]] == ["missing field: text (line 0)", "missing field: text (line 1)"]
    assert set(got[0]["samples"][0]) == {"file", "offset", "reason", "record"}


def test_version_page_resolves_its_ref_once(tmp_path: Path, monkeypatch) -> None:
    """The page's sections (manifest, rows, quarantine, dropped examples) share one resolved manifest; the rows'
    SQL reads the version by its exact ref."""
    from starlette.testclient import TestClient

    from huijin.web.app import create_app

    s = Store.open(tmp_path / "s")
    with s.writer("one", kind="doc") as w:
        w.write([{"text": "a filing paragraph", "lang": "en"}])
        w.quarantine("bad json (line 3)", file="a.jsonl", offset=3, record="{")
    calls: list[str] = []
    real = Store.resolve
    monkeypatch.setattr(Store, "resolve", lambda self, ref: calls.append(str(ref)) or real(self, ref))
    page = TestClient(create_app(s.root), base_url="http://127.0.0.1").get("/v/one@latest").text
    assert "a filing paragraph" in page and "bad json" in page
    # once for the page; the rows' count and page queries name the exact version (was 6: each section resolved)
    assert calls == ["one@latest", "one@1", "one@1"], calls
