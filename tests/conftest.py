"""Shared fixtures. Reference data lives beside the checkout at ../shared/data (read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference data folder; tests that need it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("reference data not found at ../shared/data (next to the checkout); "
                    "this test checks against it")
    return SHARED_DATA
