"""The deployment files this installation carries (package data beside this module): systemd
units, the example config and env file, the server-side post-receive hook; rendered with this
installation's own program, so a wheel or `pipx install` needs no source checkout."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from mtor_git.errors import UsageError

UNIT_NAME = "mtor-git.service"
SYSTEM_CONFIG = "/etc/mtor-git/config.yaml"
USER_CONFIG = "%E/mtor-git/config.yaml"  # %E: $XDG_CONFIG_HOME, ~/.config


def data(name: str) -> str:
    """The text of one shipped file, by its path under mtor_git/deploy/."""
    return resources.files("mtor_git.deploy").joinpath(name).read_text(encoding="utf-8")


def program() -> list[str]:
    """How to run this installation of mtor-git: the console script next to the interpreter
    (a venv's or pipx's bin/), else the interpreter with `-m mtor_git`. Symlinks are kept: a
    venv's python is a symlink that must stay one to find its site-packages."""
    python = os.path.abspath(sys.executable)
    script = Path(python).parent / "mtor-git"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [python, "-m", "mtor_git"]


def _systemd_word(word: str) -> str:
    """One ExecStart= word: bare when plain, else double-quoted with systemd's escapes."""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", word):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{escaped}"'


def systemd_unit(*, user: bool, command: Sequence[str] | None = None,
                 config: str | None = None) -> str:
    """The system (or per-user) unit with ExecStart= running `command` (default: `program()`)."""
    argv = list(command or program())
    for word in argv[:1]:
        if not (os.path.isabs(word) or word.startswith("%h/")):
            raise UsageError(f"ExecStart needs an absolute program path, not {word!r}")
    template = data(f"systemd/{'user/' if user else ''}{UNIT_NAME}")
    return (template.replace("@MTOR_GIT@", " ".join(_systemd_word(w) for w in argv))
            .replace("@CONFIG@", _systemd_word(config or (USER_CONFIG if user else SYSTEM_CONFIG))))


# The hook's fast path: one datagram from a bare interpreter (-I -S: no site, no environment),
# ~20 ms where the full CLI's start-up costs ~300 ms on every push.
_SEND = ("import socket,sys;s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM);"
         "s.sendto(b'poke',sys.argv[1])")


def post_receive(*, command: Sequence[str] | None = None, config: Path | None = None,
                 sock: Path | None = None) -> str:
    """The server-side post-receive hook, poking the daemon with absolute paths. With `sock`
    (the poke socket the config names at install time), a bare interpreter writes to it first;
    the full CLI, reading the config anew, runs only when that fails (no daemon listening
    there, or a runtime_dir changed since)."""
    argv = [*(command or program()), "poke", "--quiet"]
    if config is not None:
        argv += ["--config", str(config.resolve())]
    poke = f"{shlex.join(argv)} >/dev/null 2>&1"
    if sock is not None:
        fast = [os.path.abspath(sys.executable), "-I", "-S", "-c", _SEND, str(sock)]
        poke = f"{shlex.join(fast)} 2>/dev/null || {poke}"
    return data("post-receive").replace("@POKE@", poke)


def write_new(path: Path, text: str, *, mode: int, force: bool) -> None:
    """Write `text` to `path` atomically with `mode`; refuse to overwrite unless `force`."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(path)
