"""Doctor checks of a running daemon, read from its status file (<state_dir>/status.json, written
by daemon.Daemon.write_status): a fresh heartbeat, polls without error, healthy recent outcomes.

A live process is not a healthy worker: a burst of failed tasks, or an open breaker, is reported
as a failure even while the heartbeat is fresh (the incident's daemon was up the whole time).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtor_git.config.model import Config
from mtor_git.doctor.run import Check, Status
from mtor_git.states import TaskStatus
from mtor_git.worker.daemon import STATUS_NAME, status_name

HEARTBEAT_FACTOR = 3.0  # a heartbeat older than this many poll intervals: not running or stuck
WINDOW = 5  # recent outcomes judged
UNHEALTHY_FAILURES = 3  # failed outcomes within the window that make the worker unhealthy
FAST = 10.0  # seconds: a failed task this quick, with no model call, points at the pipeline
BAD_STATUSES = frozenset({TaskStatus.FAILED, TaskStatus.REJECTED, TaskStatus.EXHAUSTED})


@dataclass(frozen=True)
class Outcome:
    """One entry of the status file's `recent` list (fields missing in older files are None)."""

    task: str
    status: str
    at: float | None = None
    duration: float | None = None
    kind: str | None = None
    model_invoked: bool | None = None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Outcome:
        def num(key: str) -> float | None:
            v = raw.get(key)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

        invoked = raw.get("model_invoked")
        kind = raw.get("kind")
        return cls(task=str(raw.get("task", "?")), status=str(raw.get("status", "?")),
                   at=num("at"), duration=num("duration"),
                   kind=kind if isinstance(kind, str) else None,
                   model_invoked=invoked if isinstance(invoked, bool) else None)

    @property
    def bad(self) -> bool:
        return self.status in BAD_STATUSES

    def describe(self) -> str:
        parts = [self.kind] if self.kind else []
        if self.duration is not None:
            parts.append(f"{self.duration:.1f} s")
        parts.append({True: "model ran", False: "model never ran",
                      None: "no sign the model ran"}[self.model_invoked])
        return f"{self.task} {self.status}" + (f" ({', '.join(parts)})" if parts else "")


def check_daemon(config: Config, now: float | None = None) -> Iterator[Check]:
    now = time.time() if now is None else now
    path, data, problem, stranger = find_status(config)
    if stranger is not None:
        yield Check("daemon heartbeat", "warn", stranger, "give each worker its own state_dir, "
                    "or run doctor with the config the daemon runs with")
        for name in ("daemon polls", "daemon outcomes"):
            yield Check(name, "skip", f"no status of worker {config.worker_id} yet")
        return
    if data is None:
        if problem is None:
            reason = (f"no status file at {path} yet: no daemon has run with this state_dir "
                      "(start it, then run doctor again)")
            for name in ("daemon heartbeat", "daemon polls", "daemon outcomes"):
                yield Check(name, "skip", reason)
            return
        yield Check("daemon heartbeat", "fail", f"{path}: {problem}",
                    "stop the daemon, remove the file, start it again")
        return
    if data.get("mode") == "once":
        yield check_cron(data, config.schedule, now)
    else:
        yield check_heartbeat(data, config.poll_interval, now)
    yield check_polls(data, now)
    yield check_outcomes(data)


def find_status(config: Config) -> tuple[Path, dict[str, Any] | None, str | None, str | None]:
    """(path, status, problem, stranger) of the config's own worker: its per-id file, else the
    shared status.json when it is that worker's; `stranger` says whose the shared file is when it
    belongs to another worker id (so its heartbeat is not reported as this worker's)."""
    own = config.state_dir / status_name(config.worker_id)
    data, problem = read_status(own)
    if data is not None or problem is not None:
        return own, data, problem, None
    shared = config.state_dir / STATUS_NAME
    data, problem = read_status(shared)
    other = data.get("worker_id") if data is not None else None
    if data is not None and other != config.worker_id:
        return shared, None, None, (
            f"no status of worker {config.worker_id} (this config's worker_id) in "
            f"{config.state_dir}: the status file {shared} is worker {other}'s (pid "
            f"{data.get('pid')} on {data.get('host')}), so it says nothing about this one")
    return shared, data, problem, None


def check_cron(data: Mapping[str, Any], schedule: float | None, now: float) -> Check:
    """A `daemon --once` worker (cron, a timer) is judged by its last cycle, not by a process."""
    name = "daemon heartbeat"
    last = data.get("last_poll") or data.get("heartbeat")
    who = f"worker {data.get('worker_id')} (daemon --once, pid {data.get('pid')})"
    if not isinstance(last, int | float):
        return Check(name, "fail", f"{who}: no cycle recorded", "run mtor-git daemon --once "
                     "by hand and read its output")
    age = now - last
    if schedule is None:
        return Check(name, "pass", f"{who}: last cycle at {_iso(last)} ({_ago(max(age, 0.0))}); "
                     "set `schedule:` to the cron interval for doctor to check it keeps running")
    limit = HEARTBEAT_FACTOR * schedule
    if age > limit:
        return Check(name, "fail", f"{who}: the last cycle was {_ago(age)}, more than "
                     f"{HEARTBEAT_FACTOR:g} x schedule ({limit:g} s): cron is not running it",
                     "check the cron entry or timer (crontab -l; systemctl list-timers) and "
                     "its mail or journal")
    return Check(name, "pass", f"{who}: last cycle {_ago(max(age, 0.0))} (schedule "
                 f"{schedule:g} s, limit {limit:g} s)")


def read_status(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(the status, None), (None, None) when there is no file, (None, why) when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"unreadable status file: {exc}"
    if not isinstance(data, dict):
        return None, "the status file is not a JSON object"
    return data, None


def check_heartbeat(data: Mapping[str, Any], poll_interval: float, now: float) -> Check:
    name = "daemon heartbeat"
    beat = data.get("heartbeat")
    limit = HEARTBEAT_FACTOR * poll_interval
    who = f"worker {data.get('worker_id')} (pid {data.get('pid')} on {data.get('host')})"
    if not isinstance(beat, int | float):
        return Check(name, "fail", f"{who}: the status file has no heartbeat",
                     "start the daemon (a fresh start rewrites the status file)")
    age = now - beat
    if data.get("stopped"):
        return Check(name, "fail", f"{who} stopped at {_iso(beat)} ({_ago(age)}): the daemon "
                     "is not running", "start it (systemctl start mtor-git); its log says why "
                     "it stopped")
    if age > limit:
        return Check(name, "fail", f"daemon not running or stuck: {who} last wrote a heartbeat "
                     f"{_ago(age)} (limit: {HEARTBEAT_FACTOR:g} x poll_interval = {limit:g} s)"
                     f"{_pid_note(data)}", "systemctl status mtor-git; journalctl -u mtor-git")
    if age < -limit:
        return Check(name, "warn", f"{who}: the heartbeat is dated {-age:.0f} s in the future",
                     "a clock moved backwards; see the clock check")
    return Check(name, "pass", f"{who}: heartbeat {_ago(max(age, 0.0))} (limit {limit:g} s)")


def _pid_note(data: Mapping[str, Any]) -> str:
    """Only on this host can the pid be looked at; elsewhere say nothing rather than guess."""
    pid = data.get("pid")
    if data.get("host") != socket.gethostname() or not isinstance(pid, int):
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return f"; pid {pid} no longer exists: it died without a clean stop"
    except PermissionError:
        pass
    return f"; pid {pid} still exists: stuck, or the pid was reused"


def check_polls(data: Mapping[str, Any], now: float) -> Check:
    name = "daemon polls"
    error = data.get("last_error")
    last = data.get("last_poll")
    if error:
        return Check(name, "fail", f"the last poll failed: {error}",
                     "see the repo checks above; the daemon retries every poll")
    if not isinstance(last, int | float):
        return Check(name, "skip", "the daemon has not finished a poll yet")
    return Check(name, "pass", f"last poll {_ago(now - last)}, without error")


def check_outcomes(data: Mapping[str, Any]) -> Check:
    """Unhealthy when a breaker is open or UNHEALTHY_FAILURES of the last WINDOW tasks failed."""
    name = "daemon outcomes"
    opened = _open_breakers(data.get("breakers"))
    raw = data.get("recent")
    recent = [Outcome.of(r) for r in raw if isinstance(r, Mapping)] \
        if isinstance(raw, list) else []
    verdict, detail = judge_outcomes(recent)
    if opened:
        return Check(name, "fail", f"circuit breaker open for {'; '.join(opened)}; {detail}",
                     "the provider keeps refusing: check its status, quota and rate limits")
    if verdict == "skip":
        return Check(name, "skip", detail + "; no breaker open")
    hint = ("read one: mtor-git result <id>; then mtor-git doctor --probe" if verdict != "pass"
            else "")
    return Check(name, verdict, detail, hint)


def _open_breakers(value: object) -> list[str]:
    if not isinstance(value, Mapping):
        return []
    return [f"{k} (after {v.get('consecutive_failures')} x {v.get('last_kind')})"
            for k, v in sorted(value.items())
            if isinstance(v, Mapping) and v.get("state") == "open"]


def judge_outcomes(recent: Sequence[Outcome]) -> tuple[Status, str]:
    """Pure: ('pass' | 'warn' | 'fail' | 'skip', detail) for the last WINDOW outcomes."""
    window = list(recent)[-WINDOW:]
    if not window:
        return "skip", "no task has finished since the daemon started"
    bad = [o for o in window if o.bad]
    listed = "; ".join(o.describe() for o in bad)
    if not bad:
        return "pass", f"the last {len(window)} task(s) did not fail"
    detail = f"{len(bad)} of the last {len(window)} task(s) failed: {listed}"
    fast = [o for o in bad if o.model_invoked is not True and o.duration is not None
            and o.duration < FAST]
    if fast and len(fast) == len(bad):
        detail += (f"; all in under {FAST:g} s with no sign of a model call: the pipeline is "
                   "failing, not the model")
    return ("fail" if len(bad) >= UNHEALTHY_FAILURES else "warn"), detail


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"
