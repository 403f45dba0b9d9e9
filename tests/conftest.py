"""Shared fixtures: a fresh store per test and the third-party data folder (``../shared/data``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HUIJIN_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def store(tmp_path):
    from catalogs import Store

    return Store.open(tmp_path / "store")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared third-party data; tests that need it skip with a reason when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent (set HUIJIN_SHARED_DATA to its path)")
    return SHARED
