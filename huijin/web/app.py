"""The read-only catalog viewer: a Starlette app with Jinja templates over one store.

Pages: versions (``/``), a version (``/v/NAME@N``), search (``/search``), lineage (``/lineage``), snapshots
(``/snapshots``), runs (``/runs``) and the taxonomy heat map (``/taxonomy``). Assets (CSS, the vendored uPlot)
come from this package's ``static/`` folder: no CDN, no build step, works offline. Nothing under the store
is served as a file; every SQL runs through ``catalogs.sql.run_query`` (read-only copy, sandbox, limits).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import charts, render
from .queries import PAGE_SIZE, SEARCH_MAX_ROWS, SEARCH_TIMEOUT_S, SORTS, Catalog

HERE = Path(__file__).resolve().parent
LOCAL_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def create_app(store: str | Path, allowed_hosts: list[str] | None = None) -> Starlette:
    """The app for one store (opened read-only now: a missing store fails here, before serving)."""
    cat = Catalog(store)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.globals.update(charts=charts, render=render, store_root=str(cat.root), page_size=PAGE_SIZE)
    env.filters["js"] = lambda v: json.dumps(v, default=str)
    env.filters["num"] = _num
    env.globals["ablation_bars"] = _ablation_bars

    def page(request: Request, name: str, **ctx: Any) -> Response:
        return templates.TemplateResponse(request, name, ctx)

    async def versions(request: Request) -> Response:
        q = request.query_params
        sort = q.get("sort") or "time"
        rows = cat.versions(q.get("kind") or None, q.get("name") or None, q.get("parent") or None, sort)
        return page(request, "versions.html", rows=rows, kinds=cat.kinds(), q=q, sort=sort, sorts=list(SORTS))

    async def version(request: Request) -> Response:
        ref = request.path_params["ref"]
        q = request.query_params
        v = _or_404(cat.version, ref)
        m = v["m"]
        try:
            pg = int(q.get("page") or 1)
        except ValueError:
            pg = 1
        samples = cat.samples(m, pg, q.get("contains") or None)
        return page(request, "version.html", v=v, m=m, samples=samples, contains=q.get("contains") or "",
                    quarantine=cat.quarantine(m), dropped=cat.dropped(m),
                    funnel_svg=charts.hbars([(f["stage"], f["n"]) for f in v["funnel"]], [f["kind"] for f in v["funnel"]]),
                    default_sql=f"SELECT * FROM rows('{m.ref}') LIMIT 20")

    async def search(request: Request) -> Response:
        from catalogs.sql import QueryError

        sql = request.query_params.get("sql") or ""
        result, error = None, None
        if sql.strip():
            try:
                result = cat.search(sql)
            except (QueryError, ValueError, KeyError) as e:  # RefError is a ValueError
                error = " ".join(str(e).strip("'\"").split())
        return page(request, "search.html", sql=sql, result=result, error=error, max_rows=SEARCH_MAX_ROWS,
                    timeout=SEARCH_TIMEOUT_S)

    async def lineage(request: Request) -> Response:
        focus = request.query_params.get("focus") or None
        g = cat.graph()
        if focus and focus not in g["nodes"]:
            raise HTTPException(404, f"no node {focus!r} in the lineage graph")
        return page(request, "lineage.html", svg=charts.lineage_svg(g, focus), focus=focus,
                    n_nodes=len(g["nodes"]), n_edges=len(g["edges"]))

    async def snapshots(request: Request) -> Response:
        return page(request, "snapshots.html", rows=cat.snapshots())

    async def snapshot(request: Request) -> Response:
        s = _or_404(cat.snapshot, request.path_params["name"])
        return page(request, "snapshot.html", spec=s["spec"], runs=s["runs"])

    async def runs(request: Request) -> Response:
        return page(request, "runs.html", rows=cat.runs())

    async def run(request: Request) -> Response:
        r = _or_404(cat.run, request.path_params["run_id"])
        return page(request, "run.html", r=r, rec=r["rec"])

    async def taxonomy(request: Request) -> Response:
        return page(request, "taxonomy.html", t=cat.taxonomy())

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return templates.TemplateResponse(request, "error.html", {"status": exc.status_code, "detail": exc.detail},
                                          status_code=exc.status_code)

    routes = [
        Route("/", versions), Route("/v/{ref:str}", version), Route("/search", search),
        Route("/lineage", lineage), Route("/snapshots", snapshots), Route("/snapshots/{name:str}", snapshot),
        Route("/runs", runs), Route("/runs/{run_id:str}", run), Route("/taxonomy", taxonomy),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    hosts = allowed_hosts or LOCAL_HOSTS  # a page on another site cannot reach the viewer through DNS rebinding
    app = Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
                    exception_handlers={HTTPException: not_found})
    app.state.catalog = cat
    return app


def _or_404(fn, key: str) -> Any:
    from catalogs import RefError, SnapshotError

    try:
        return fn(key)
    except (RefError, SnapshotError, KeyError, FileNotFoundError) as e:
        raise HTTPException(404, " ".join(str(e).strip("'\"").split())) from None


def _ablation_bars(ab: dict[str, Any]) -> list[tuple[str, float]]:
    """The ablation's overall score per model column (base → cpt → sft → …)."""
    row = next((r for r in ab["rows"] if r["metric"] == "overall"), None) or {}
    return [(c, row[c]) for c in ab["columns"][1:] if isinstance(row.get(c), (int, float))]


def _num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)

