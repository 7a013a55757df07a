"""Logging for the daemon and CLI: a human format on stderr (journald-aware), a size-rotated file
whose total size is bounded, an optional JSON file, and collapsing of repeated messages.

Logging must never stop the worker: every sink catches its own errors, a log file that cannot be
opened or written (missing or read-only folder, disk full) costs one warning and the worker goes
on with stderr, retrying the file later. The file sink is ours rather than loguru's path sink,
because loguru's prints a traceback to stderr for every failed write: on a full disk that is the
unbounded log this project was written against.

Modules: `files` (the rotating file sink, sizes), `format` (the human formats), `collapse` (repeat
counting), `setup` (setup_logging and its handle).
"""

from __future__ import annotations

from mtor_git.logs.files import log_files, parse_size, probe_log_file
from mtor_git.logs.setup import LogHandle, setup_logging

__all__ = ["LogHandle", "log_files", "parse_size", "probe_log_file", "setup_logging"]
