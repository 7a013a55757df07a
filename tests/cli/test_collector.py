"""`status` builds a board with the cyclic garbage collector paused (issue 14: a board of 5,000
tasks ran some 50 collections that found nothing), and gives it back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mtor_git.cli.common import collector_paused


@pytest.fixture(autouse=True)
def collector_as_it_was() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_the_collector_is_paused_inside_and_back_after() -> None:
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_error_inside_gives_the_collector_back() -> None:
    gc.enable()
    with pytest.raises(KeyError), collector_paused():
        raise KeyError("x")
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
