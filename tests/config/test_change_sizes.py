"""The size caps on what an agent may add (`max_file_bytes`, `max_change_bytes`, #12 item 7)."""

from __future__ import annotations

import pytest

from mtor_git.config.load import parse_config
from mtor_git.errors import ConfigError

ENV = {"HOME": "/home/w", "PATH": "/usr/bin"}
MINIMAL = "repos: [{url: /srv/git/p.git}]\nagents: {claude: {}}\n"


def test_the_caps_default_to_10_and_100_mib() -> None:
    config = parse_config(MINIMAL, environ=ENV)
    assert (config.max_file_bytes, config.max_change_bytes) == (10 << 20, 100 << 20)


def test_the_caps_are_read_from_the_configuration() -> None:
    config = parse_config(MINIMAL + "max_file_bytes: 4096\nmax_change_bytes: 65536\n",
                          environ=ENV)
    assert (config.max_file_bytes, config.max_change_bytes) == (4096, 65536)


@pytest.mark.parametrize("value", ["0", "big", "-1"])
def test_a_cap_that_is_not_a_positive_count_names_its_line(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^w\.yaml:3: max_file_bytes: "):
        parse_config(MINIMAL + f"max_file_bytes: {value}\n", source="w.yaml", environ=ENV)
