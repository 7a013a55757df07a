"""Logging is bounded on disk, collapses repeats, survives unusable files and never raises."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from mtor_git.logs import LogHandle, log_files, parse_size, probe_log_file, setup_logging


@pytest.fixture
def handles() -> Iterator[list[LogHandle]]:
    """Every handle a test opens is closed, so no sink leaks into the next test."""
    opened: list[LogHandle] = []
    yield opened
    for handle in opened:
        handle.close()


def start(handles: list[LogHandle], **kwargs: object) -> tuple[LogHandle, io.StringIO]:
    stderr = io.StringIO()
    handle = setup_logging(stderr=stderr, **kwargs)  # type: ignore[arg-type]
    handles.append(handle)
    return handle, stderr


def test_rotation_bounds_files_and_bytes(tmp_path: Path, handles: list[LogHandle]) -> None:
    log = tmp_path / "logs" / "mtor-git.log"
    handle, _ = start(handles, file=log, rotation="4 KiB", retention=3, compression="none",
                      collapse_interval=0)
    for i in range(3000):
        logger.info("message {} {}", i, "x" * 60)
    handle.close()
    files = log_files(log)
    sizes = [p.stat().st_size for p in files]
    assert len(files) == 3, files  # rotated many times, only `retention` files remain
    assert all(size <= 4096 for size in sizes) and sum(sizes) <= 3 * 4096
    assert "message 2999 " in log.read_text()  # the newest is kept, the oldest dropped
    assert "message 0 " not in "".join(p.read_text() for p in files)


def test_rotated_files_are_gzipped_and_still_bounded(tmp_path: Path,
                                                     handles: list[LogHandle]) -> None:
    log = tmp_path / "mtor-git.log"
    handle, _ = start(handles, file=log, rotation="4 KiB", retention=4, collapse_interval=0)
    for i in range(3000):
        logger.info("message {} {}", i, os.urandom(20).hex())
    handle.close()
    files = log_files(log)
    assert len(files) == 4 and files[-1] == log
    assert all(p.name.endswith(".log.gz") for p in files[:-1])
    text = gzip.decompress(files[-2].read_bytes()).decode()
    assert len(text.encode()) <= 4096 and text.count("\n") > 10
    assert sum(p.stat().st_size for p in files) <= 4 * 4096


def test_a_huge_message_cannot_break_the_bound(tmp_path: Path, handles: list[LogHandle]) -> None:
    log = tmp_path / "mtor-git.log"
    handle, _ = start(handles, file=log, rotation="4 KiB", retention=2, collapse_interval=0)
    logger.info("y" * 100_000)
    handle.close()
    assert log.stat().st_size <= 4096
    assert log.read_text().endswith("[truncated]\n")


def test_thousand_identical_messages_become_a_handful_of_lines(
        tmp_path: Path, handles: list[LogHandle]) -> None:
    log = tmp_path / "mtor-git.log"
    handle, stderr = start(handles, file=log, collapse_interval=60)
    for _ in range(1000):
        logger.error("Unknown flag: ---")
    handle.close()
    for lines in (stderr.getvalue().splitlines(), log.read_text().splitlines()):
        # both sinks see one decision per message, not one each
        assert len(lines) == 2, lines
        assert lines[0].endswith("| Unknown flag: ---")
        assert re.search(r"Unknown flag: --- \(repeated 999 times in the last \d+s\)$",
                         lines[1])
        assert "ERROR" in lines[1]


def test_repeats_are_reported_when_the_interval_ends(handles: list[LogHandle]) -> None:
    handle, stderr = start(handles, file=None, collapse_interval=0.2)
    for _ in range(50):
        logger.warning("rate limited")
    deadline = time.monotonic() + 10
    while "repeated" not in stderr.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
        handle.flush()
    assert "rate limited (repeated 49 times in the last 1s)" in stderr.getvalue()
    logger.warning("rate limited")  # a new interval: logged again
    handle.close()
    assert stderr.getvalue().count("| rate limited\n") == 2


def test_collapse_keeps_different_tasks_apart(handles: list[LogHandle]) -> None:
    handle, stderr = start(handles, file=None)
    for _ in range(10):
        logger.bind(task="a").info("agent failed")
        logger.bind(task="b").info("agent failed")
    handle.close()
    out = stderr.getvalue()
    assert out.count("task=a | agent failed (repeated 9 times") == 1
    assert out.count("task=b | agent failed (repeated 9 times") == 1


def test_collapse_is_thread_safe(handles: list[LogHandle]) -> None:
    handle, stderr = start(handles, file=None)

    def spam() -> None:
        for _ in range(500):
            logger.info("poll failed")

    threads = [threading.Thread(target=spam) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handle.close()
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 2
    assert "(repeated 1999 times" in lines[1]


def test_unusable_log_dir_falls_back_to_stderr_with_one_warning(
        tmp_path: Path, handles: list[LogHandle]) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    log = blocker / "logs" / "mtor-git.log"  # its "folder" is a file: cannot be created
    assert probe_log_file(log) is not None
    handle, stderr = start(handles, file=log)
    logger.info("still logging")
    handle.close()
    assert handle.file is None and len(handle.fallbacks) == 1
    out = stderr.getvalue()
    assert out.count("cannot be used") == 1 and "still logging" in out


def test_disk_full_costs_one_warning_not_a_traceback_per_message(
        handles: list[LogHandle]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is needed to simulate a full disk")
    handle, stderr = start(handles, file=Path("/dev/full"), collapse_interval=0)
    for i in range(100):
        logger.info("work {}", i)
    handle.close()
    out = stderr.getvalue()
    assert out.count("cannot write log file /dev/full") == 1
    assert "Logging error" not in out and "Traceback" not in out
    assert "work 99" in out


def test_a_failing_file_reports_from_its_own_thread_not_the_writer(
        handles: list[LogHandle]) -> None:
    """Logging from a sink's writer thread puts into that sink's own queue: with the pipe full
    the only reader would wait for itself. The report must come from another thread."""
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is needed to simulate a full disk")
    seen: list[tuple[str, str]] = []
    handle, _ = start(handles, file=Path("/dev/full"), collapse_interval=0)
    capture = logger.add(lambda m: seen.append((m.record["message"], m.record["thread"].name)))
    try:
        for i in range(200):
            logger.info("work {} {}", i, "z" * 500)
        handle.close()
    finally:
        logger.remove(capture)
    reports = [thread for message, thread in seen if "cannot write log file" in message]
    assert reports == ["mtor-git-log-report"]


def test_json_sink_writes_one_valid_object_per_line(tmp_path: Path,
                                                     handles: list[LogHandle]) -> None:
    jsonl = tmp_path / "mtor-git.jsonl"
    handle, _ = start(handles, file=None, json_file=jsonl)
    logger.bind(task="fix-table", attempt=2, worker="arm-01").info("agent exited {}", 0)
    logger.info("plain")
    handle.close()
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["record"]["message"] for r in rows] == ["agent exited 0", "plain"]
    assert rows[0]["record"]["extra"] == {"task": "fix-table", "attempt": 2, "worker": "arm-01"}
    assert rows[0]["record"]["level"]["name"] == "INFO"
    assert "_mtor" not in jsonl.read_text()


def test_human_format_shows_context_fields(handles: list[LogHandle]) -> None:
    handle, stderr = start(handles, file=None)
    logger.bind(worker="arm-01", task="t1", attempt=3).info("started")
    logger.bind(task="t{2}").info("braces <b>and</b> tags stay literal")
    handle.close()
    first, second = stderr.getvalue().splitlines()
    assert first.endswith("| worker=arm-01 task=t1 attempt=3 | started")
    assert second.endswith("| task=t{2} | braces <b>and</b> tags stay literal")
    assert "\x1b[" not in stderr.getvalue()  # no colour when not a terminal


def test_journal_stream_gets_priority_prefix_and_no_timestamp(
        tmp_path: Path, handles: list[LogHandle], monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "journal", "w+", encoding="utf-8") as stream:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        handle = setup_logging(file=None, stderr=stream)
        handles.append(handle)
        logger.error("push refused")
        logger.info("polled")
        handle.close()
        stream.seek(0)
        lines = stream.read().splitlines()
    assert lines[0].startswith("<3>ERROR") and lines[0].endswith("| push refused")
    assert lines[1].startswith("<6>INFO")
    assert not re.search(r"\d\d:\d\d:\d\d", lines[0])


def test_close_is_idempotent_and_removes_the_sinks(tmp_path: Path) -> None:
    log = tmp_path / "mtor-git.log"
    handle = setup_logging(file=log, stderr=io.StringIO())
    handle.close()
    handle.close()
    logger.info("after close")
    assert "after close" not in log.read_text()


def test_exceptions_are_logged_without_local_variables(tmp_path: Path,
                                                       handles: list[LogHandle]) -> None:
    log = tmp_path / "mtor-git.log"
    handle, _ = start(handles, file=log)
    token = "sk-secret-value"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed with {}", type(token).__name__)
    handle.close()
    text = log.read_text()
    assert "RuntimeError: boom" in text and token not in text


@pytest.mark.parametrize(("text", "size"), [("10 MB", 10_000_000), ("10MiB", 10 * 2**20),
                                            ("512 kb", 512_000), ("2048", 2048),
                                            ("1.5 KiB", 1536)])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten MB", "10 TB", "100", "-5 MB"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)
