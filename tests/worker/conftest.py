"""Fixtures of the worker tests: `s`, a Site (a real remote served by `git daemon`, the user's
clone, worker configurations) for the test's life."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonfixtures import Site, site


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as running:
        yield running
