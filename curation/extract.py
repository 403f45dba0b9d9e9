"""Main-text extraction with trafilatura, keeping tables (financial pages are tables).

trafilatura's markdown output renders tables as ``| cell | cell |`` rows with numbers and signs intact; its
plain-text default flattens or drops them. Two finance-specific fixes on top: EDGAR filings come wrapped
in an SGML envelope (``<DOCUMENT><TYPE>8-K...<TEXT><HTML>``) that makes trafilatura return nothing, and
pages trafilatura cannot find an article in get a recall-oriented second try before being dropped.
"""

from __future__ import annotations

import re
from typing import Any

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

HTML_START = re.compile(r"<html[\s>]", re.I)
HTML_END = re.compile(r"</html\s*>", re.I)
CANONICAL = re.compile(r"""<link[^>]+rel=["']?canonical["']?[^>]*href=["']([^"'>\s]+)|"""
                       r"""<meta[^>]+property=["']og:url["'][^>]*content=["']([^"'>\s]+)""", re.I)
BLANKS = re.compile(r"\n{3,}")
# markdown decorations trafilatura adds that carry no text (bold/italic markers, escaped characters)
EMPHASIS = re.compile(r"(?<!\w)(\*\*|__|\*|_)(?=\S)(.+?)(?<=\S)\1(?!\w)")
ESCAPES = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|$%])")

DEFAULTS: dict[str, Any] = {
    "include_tables": True,
    "include_comments": False,
    "include_links": False,
    "include_images": False,
    "deduplicate": False,
    "favor_precision": False,
    "favor_recall": False,
}


def strip_envelope(html: str) -> str:
    """Cut an EDGAR/SGML envelope down to the HTML document it carries (no-op for normal pages)."""
    head = html[:4096].lstrip()
    if head[:1] == "<" and not head[:15].lower().startswith(("<!doctype", "<html", "<?xml")):
        m = HTML_START.search(html)
        if m:
            end = list(HTML_END.finditer(html))
            return html[m.start(): end[-1].end() if end else len(html)]
    return html


def clean_markdown(text: str) -> str:
    """Keep table pipes and heading/list structure; drop emphasis markers and backslash escapes."""
    text = EMPHASIS.sub(r"\2", text)
    text = ESCAPES.sub(r"\1", text)
    lines = [ln.rstrip() for ln in text.splitlines()]
    return BLANKS.sub("\n\n", "\n".join(lines)).strip()


def extract_text(html: str, url: str | None = None, **opts: Any) -> str | None:
    """The main text of a page (tables as markdown rows), or None when there is none."""
    import trafilatura

    cfg = {**DEFAULTS, **opts}
    fallback = cfg.pop("fallback_recall", True)
    html = strip_envelope(html)
    out = trafilatura.extract(html, url=url, output_format="markdown", with_metadata=False, **cfg)
    if not out and fallback and not cfg.get("favor_recall"):
        out = trafilatura.extract(html, url=url, output_format="markdown", with_metadata=False,
                                  **{**cfg, "favor_recall": True, "favor_precision": False})
    if not out:
        return None
    out = clean_markdown(out)
    return out or None


class Extract(PipelineStep):
    """datatrove step: HTML documents (``metadata['html']``) → extracted text; text documents pass.

    Drops pages with no main text (``dropped_no_text``); a page trafilatura crashes on is dropped with
    ``dropped_extract_error`` (the exception type is counted in the stats), never a crash of the task.
    """

    name = "⛏ huijin extract"
    type = "🛢 - EXTRAC"

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            self.stat_update("total")
            if not doc.metadata.pop("html", False):
                yield doc
                continue
            with self.track_time():
                try:
                    text = extract_text(doc.text, url=doc.metadata.get("url"), **self.options)
                except Exception as e:  # lxml/trafilatura on pathological markup
                    self.stat_update("dropped_extract_error", f"error_{type(e).__name__}")
                    doc.metadata["filter_reason"] = "extract_error"  # read by the dropped-sample tracer
                    continue
            if not text:
                self.stat_update("dropped_no_text")
                doc.metadata["filter_reason"] = "no_text"
                continue
            if not doc.metadata.get("url"):  # HTML files carry no URL of their own: use the page's canonical one
                m = CANONICAL.search(doc.text[:50_000])
                doc.metadata["url"] = (m.group(1) or m.group(2)) if m else None
            doc.text = text
            self.stat_update("extracted")
            yield doc
