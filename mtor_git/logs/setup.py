"""setup_logging: replace loguru's default sink with ours (stderr, the rotating file, the JSON
file, all behind one collapsing filter) and the handle that flushes and removes them."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from loguru import logger

from mtor_git.logs.collapse import Collapser
from mtor_git.logs.files import RotatingFile, parse_size
from mtor_git.logs.format import Escaped, formatter, stderr_style


class Reporter:
    """How a file sink reports its own trouble: from a fresh thread. The sink runs in its loguru
    writer thread, and logging from there would put into its own queue; with that queue's pipe
    full, the only thread that drains it would wait for itself forever."""

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __call__(self, level: str, text: str) -> None:
        thread = threading.Thread(target=logger.log, args=(level, text), daemon=True,
                                  name="mtor-git-log-report")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout: float = 5.0) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)


class LogHandle:
    """The sinks setup_logging added. `file` / `json_file` are None when not in use (not asked
    for, or unusable at start: see `fallbacks`)."""

    def __init__(self, sink_ids: list[int], collapser: Collapser | None, reporter: Reporter,
                 file: Path | None, json_file: Path | None, fallbacks: list[str]) -> None:
        self._sink_ids = sink_ids  # stderr first
        self._collapser = collapser
        self._reporter = reporter
        self.file = file
        self.json_file = json_file
        self.fallbacks = tuple(fallbacks)

    def flush(self) -> None:
        """Wait until everything logged so far has reached its sinks."""
        logger.complete()

    def close(self) -> None:
        """Log pending repeat counts, write what is queued and remove the sinks. Idempotent."""
        if self._collapser is not None:
            self._collapser.close()
            self._collapser = None
        # files first: draining them may report a failure, which stderr must still receive
        for sink_id in reversed(self._sink_ids):
            if sink_id == self._sink_ids[0]:
                self._reporter.join()
            try:
                logger.remove(sink_id)
            except ValueError:
                pass  # already removed by someone else
        self._sink_ids = []


def setup_logging(*, file: Path | None, rotation: str = "10 MB", retention: int = 5,
                  compression: str = "gz", json_file: Path | None = None,
                  stderr_level: str = "INFO", collapse_interval: float = 60.0,
                  file_level: str = "DEBUG", stderr: TextIO | None = None) -> LogHandle:
    """Replace loguru's default sink with ours. Raises ValueError only for a bad `rotation` or
    `compression`; an unusable file never raises."""
    max_bytes = parse_size(rotation)
    try:
        logger.remove(0)  # loguru's default stderr sink; other code's sinks are left alone
    except ValueError:
        pass
    collapser = Collapser(collapse_interval) if collapse_interval > 0 else None
    admit = collapser.admit if collapser else None
    stream = stderr if stderr is not None else sys.stderr
    style = stderr_style(stream)
    common: dict[str, Any] = {"filter": admit, "enqueue": True, "catch": True,
                              "backtrace": False, "diagnose": False}  # diagnose shows secrets
    ids = [logger.add(Escaped(stream, coloured=style == "tty"), level=stderr_level,
                      format=formatter(style), colorize=style == "tty", **common)]
    used: dict[str, Path | None] = {"file": None, "json": None}
    reporter = Reporter()
    fallbacks: list[str] = []
    for kind, path in (("file", file), ("json", json_file)):
        if path is None:
            continue
        try:
            sink = RotatingFile(path, max_bytes, retention, compression, reporter)
        except OSError as exc:
            fallbacks.append(f"log file {path} cannot be used ({exc.strerror or exc}); "
                             "logging to stderr only")
            continue
        shown = sink if kind == "json" else Escaped(sink)
        ids.append(logger.add(shown, level=file_level, colorize=False, serialize=kind == "json",
                              format="{message}" if kind == "json" else formatter("file"),
                              **common))
        used[kind] = path
    for text in fallbacks:
        logger.warning(text)
    return LogHandle(ids, collapser, reporter, used["file"], used["json"], fallbacks)
