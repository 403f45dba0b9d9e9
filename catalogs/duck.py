"""DuckDB for the catalog index, through the lightest module that does the job: the one place that chooses it.

The index needs ``connect``, a connection's ``execute``/``executemany``/``description``/``fetchone``/``fetchall``
and DuckDB's error classes. DuckDB's engine module ``_duckdb`` (the compiled extension, a top-level module)
provides all of them; the ``duckdb`` package imports it and re-exports the same objects (a connection or an error
from one *is* one from the other), then loads its Python layer — relations, the expression builder, 36 dataclasses
— which costs ~0.15 s more, half of `huijin catalog ls`'s 300 ms start-up budget, and which the index never uses.
So the index imports the engine module, here, on its first connection.

What only the package provides: scanning a Python Arrow object (the package hands the engine its Arrow sources
when it is imported: call ``arrow_scans`` before ``con.register(name, arrow_table)``) and the relation API
(``con.sql``), which the index does not use. ``duckdb._duckdb`` is no lighter (it imports the package first).
A DuckDB without a top-level ``_duckdb``, or whose engine lacks a name in ``NEEDED``, gets the package: slower,
never wrong.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

NEEDED = ("connect", "DuckDBPyConnection", "Error", "IOException", "SerializationException", "CatalogException")


@functools.cache
def engine() -> ModuleType:
    """DuckDB's engine module ``_duckdb`` where it has every name the index uses, else the ``duckdb`` package."""
    try:
        import _duckdb
    except ImportError:
        _duckdb = None
    if _duckdb is not None and all(hasattr(_duckdb, n) for n in NEEDED):
        return _duckdb
    import duckdb

    return duckdb


def connect(path: str, read_only: bool = False) -> DuckDBPyConnection:
    """``duckdb.connect(path, read_only=...)`` without importing DuckDB's Python layer."""
    return engine().connect(path, read_only=read_only)


def arrow_scans() -> None:
    """Let connections scan Python Arrow objects (``con.register``): importing the package sets that up in the
    engine, for every connection, the ones already open included."""
    import duckdb  # noqa: F401
