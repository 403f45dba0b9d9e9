"""The catalog viewer: a read-only local web app over one store (`huijin catalog serve`).

    from huijin.web import serve
    serve("./huijin-store", host="127.0.0.1", port=8765)

Starlette + Jinja templates, server-drawn SVG charts and the vendored uPlot for step curves (``static/``):
no build step and no CDN, so it works offline. See ``app.py`` for the pages and ``queries.py`` for what
they read (every SQL through the catalog's sandbox, bounded in rows and time).
"""

from __future__ import annotations

from pathlib import Path

LOCAL = ("127.0.0.1", "localhost", "::1")


def serve(store: str | Path, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning") -> None:
    """Serve the viewer until interrupted. Any host but a loopback one is refused unless named explicitly
    by the caller (the CLI asks for ``--host``): the viewer has no authentication."""
    import uvicorn

    from .app import LOCAL_HOSTS, create_app

    allowed = None if host in LOCAL else [*LOCAL_HOSTS, host, "*"]
    app = create_app(store, allowed_hosts=allowed)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
