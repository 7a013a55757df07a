"""Figures for the worker daemon, against a real `git daemon` on loopback:

  push -> agent start       with the installed post-receive hook's poke, and by polling; next to
                            issue 14's goals: <= 1.2 x (a bare socket write + the agent's own
                            start), and <= interval x (1 + jitter) + one cycle
  pipeline overhead         a task's cycle minus its agent's own time (an agent that exits at once)
  idle poll                 Worker.cycle() when nothing moved on the remote
  detection                 a new spec in a repository of 10,000 specs and 2,000 commits
  throughput                200 instant tasks, 2 daemons x 2 slots (tasks/s, duplicates, lost
                            results, idle slot time), next to >= 70 % of slots / the pygit2 floor
  RSS                       a running daemon's VmRSS when idle (fresh, and after 200 tasks)

    PYTHONPATH=. python bench/daemon_bench.py [--quick] [--only latency,throughput,...]

Prints every figure with its target; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench"), str(ROOT)]

import finished_bench  # noqa: E402
import slot_idle  # noqa: E402
import start_floor  # noqa: E402
from daemonfixtures import DAEMON_ENV, GitServer, Site, mtor, site, spec, wait_for  # noqa: E402
from git_ops import COMMITS, SPECS, big_history  # noqa: E402
from gitfixtures import git, import_commit, install_hook  # noqa: E402
from loguru import logger  # noqa: E402

from mtor_git import git as gitops  # noqa: E402
from mtor_git.config.load import load_config  # noqa: E402
from mtor_git.deploy import files  # noqa: E402
from mtor_git.queue import state  # noqa: E402
from mtor_git.task import run as taskrun  # noqa: E402
from mtor_git.worker import daemon  # noqa: E402
from mtor_git.worker.cycle import Worker  # noqa: E402
from mtor_git.worker.poke import socket_path  # noqa: E402


def ms(seconds: float) -> float:
    return seconds * 1000.0


def summary(values: list[float], unit: str = "ms") -> str:
    values = sorted(values)
    p90 = percentile(values, 0.9)
    return (f"median {statistics.median(values):8.1f} {unit}   p90 {p90:8.1f} {unit}   "
            f"min {values[0]:8.1f} {unit}   (n={len(values)})")


def figure(what: str, value: str, goal: str, ratio: str) -> None:
    """One issue-14 figure: its value, its goal and their ratio, on one line."""
    print(f"  {what:42} {value:>14}   goal {goal:32}   ratio {ratio}")


def verdict(value: float, target: float) -> str:
    return "ok" if value < target else "OVER TARGET"


# Where a cycle's time goes: the git, process and disk steps every worker module calls through
# these module attributes (wrapped for the duration of a measurement, in every thread).
STEPS: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (gitops, ("push", "fetch", "fetch_moved", "remote_refs", "commit_files", "commit_all",
              "create_worktree", "remove_worktree", "changed_paths", "list_tree", "is_ancestor",
              "commit_of_path_addition", "diff_changes")),
    (taskrun, ("execute",)), (state, ("write_json_atomic",)))


@contextlib.contextmanager
def breakdown() -> Iterator[dict[str, list[float]]]:
    """Seconds spent in each step (total, calls) while the block runs."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    saved = []
    for module, fns in STEPS:
        for name in fns:
            original = getattr(module, name)
            saved.append((module, name, original))

            def timed_step(*a: Any, _f: Any = original, _n: str = name, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return _f(*a, **k)
                finally:
                    totals[_n][0] += time.perf_counter() - t
                    totals[_n][1] += 1

            setattr(module, name, functools.wraps(original)(timed_step))
    try:
        yield totals
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def print_breakdown(totals: dict[str, list[float]], per: int, what: str) -> None:
    for name, (secs, calls) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        print(f"      {name:24} {ms(secs) / per:8.1f} ms/{what}   {calls / per:4.1f} calls/{what}")


def in_process_worker(config: Path) -> Worker:
    return Worker(load_config(config, environ=dict(os.environ)), os.environ)


def agent_starts(s: Site) -> list[float]:
    if not s.count_file.exists():
        return []
    return [float(line.split()[0]) for line in s.count_file.read_text().splitlines() if line]


def wait_first_poll(s: Site, name: str) -> None:
    def polled() -> bool:
        try:
            data = json.loads((s.state_dir(name) / "status.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        return bool(data.get("last_poll"))

    wait_for(polled, 60, "the daemon's first poll")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


# -- push -> agent start -------------------------------------------------------------------------
POLL_INTERVAL = 2.0
# As mtor_git/worker/daemon.py schedules the poll: APScheduler adds uniform(0, jitter) seconds,
# jitter = daemon.POLL_JITTER (10 %, the README says) of the interval.
POLL_JITTER = POLL_INTERVAL * daemon.POLL_JITTER


def bench_latency(base: Path, runs: int) -> None:
    print("push -> agent start (long-running daemon, git:// on loopback, instant agent):")
    with site(base / "poke") as s:
        config = s.config("w1", poll_interval="300s")
        sock = start_floor.socket_write_ms(base / "bare-sock", runs)
        boxed, plain = start_floor.agent_start_ms(config, "instant", s.count_file,
                                                  s.root / "agent-start", runs)
        s.count_file.unlink()
        runtime = load_config(config, environ=dict(os.environ)).runtime_dir
        install_hook(s.remote, "post-receive",
                     files.post_receive(config=config, sock=socket_path(runtime)))
        proc = s.start(config)
        wait_first_poll(s, "w1")
        poked = [push_until_agent(s, f"p{i}") for i in range(runs)]
        stop(proc)
    floor = statistics.median(sock) + statistics.median(boxed)
    running = slot_idle.running_at((config.parent / "daemon.log").read_text())
    print(f"  bare unix-socket write (poke)     median {statistics.median(sock):8.3f} ms")
    print(f"  the agent's own start (sandboxed) {summary(boxed)}")
    print(f"    (the same agent, plain Popen)   {summary(plain)}")
    print(f"  the user's git push (hook incl.)  {summary([p.push for p in poked])}")
    from_end = [p.latency for p in poked]
    print(f"  with poke (installed hook), from the push's end   {summary(from_end)}")
    print(f"  with poke (installed hook), from the push's start "
          f"{summary([p.latency + p.push for p in poked])}")
    print("    split at the task's `running` log line (ms precision):")
    claimed = [ms(running[p.task] - p.ended) for p in poked]
    print(f"      push end -> claimed, `running` {summary(claimed)}")
    print(f"      `running` -> agent's 1st line  "
          f"{summary([ms(p.started - running[p.task]) for p in poked])}")
    cycle = statistics.median(from_end)
    for what, value in (("median", cycle), ("p90", percentile(from_end, 0.9))):
        figure(f"with poke, {what} (from the push's end)", f"{value:.0f} ms",
               f"<= 1.2 x (socket + agent start) = {1.2 * floor:.0f} ms",
               f"{value / floor:.2f} x the floor (goal <= 1.2)")
    with site(base / "poll") as s:
        config = s.config("w1", poll_interval=f"{POLL_INTERVAL:g}s")
        proc = s.start(config)
        wait_first_poll(s, "w1")
        polled = [push_until_agent(s, f"q{i}").latency for i in range(max(3, runs // 2))]
        stop(proc)
    bound = (POLL_INTERVAL + POLL_JITTER) * 1000 + cycle
    print(f"  polling every {POLL_INTERVAL:g}s, jitter up to {POLL_JITTER} s   {summary(polled)}"
          f"   max {max(polled):.0f} ms")
    for what, value in (("p90", percentile(polled, 0.9)), ("max", max(polled))):
        figure(f"by polling, {what}", f"{value:.0f} ms",
               f"<= interval + jitter + one cycle = {bound:.0f} ms",
               f"{value / bound:.2f} (goal <= 1; one cycle = the poke median)")


@dataclasses.dataclass(frozen=True)
class Pushed:
    task: str
    push: float  # ms the user's `git push` took (the post-receive hook runs inside it)
    ended: float  # when that push returned (unix time)
    started: float  # when the agent wrote its first line (unix time)

    @property
    def latency(self) -> float:
        """ms from the end of the push to the agent's first line."""
        return ms(self.started - self.ended)


def push_until_agent(s: Site, task_id: str) -> Pushed:
    """Commit a spec, push it, wait for its agent (and its result, outside the figure)."""
    n = len(agent_starts(s))
    (s.user / "tasks").mkdir(exist_ok=True)
    (s.user / "tasks" / f"{task_id}.md").write_bytes(spec())
    git("add", f"tasks/{task_id}.md", cwd=s.user)
    git("commit", "--quiet", "--no-verify", "-m", task_id, cwd=s.user)
    t0 = time.time()
    git("push", "--quiet", "--no-verify", "origin", "HEAD:main", cwd=s.user)
    pushed = time.time()
    wait_for(lambda: len(agent_starts(s)) > n, 60, "the agent", interval=0.005)
    started = agent_starts(s)[n]
    wait_for(lambda: task_id in s.results(), 60, "the result")
    return Pushed(task_id, ms(pushed - t0), pushed, started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# -- pipeline overhead ---------------------------------------------------------------------------
def bench_overhead(base: Path, runs: int) -> None:
    print("pipeline overhead per task (in-process Worker, one slot, instant agent):")
    for label in ("git://", "path"):
        with site(base / f"overhead-{label.strip(':/')}") as s:
            url = s.url if label == "git://" else str(s.remote)
            worker = in_process_worker(s.config("w1", max_parallel=1, url=url))
            worker.cycle()
            totals: list[float] = []
            agents: list[float] = []
            overheads: list[float] = []
            with breakdown() as steps:
                run_tasks(s, worker, runs, totals, agents, overheads)
            worker.stop(5)
            med = statistics.median(overheads)
            print(f"  remote as {label}")
            print(f"    cycle, claim, run, publish    {summary(totals)}")
            print(f"    the agent's own time          {summary(agents)}")
            print(f"    overhead (total - agent)      {summary(overheads)}   target < 150 ms: "
                  f"{verdict(med, 150)}")
            print("    time per step (execute = the agent and its preflight):")
            print_breakdown(steps, runs, "task")


def run_tasks(s: Site, worker: Worker, runs: int, totals: list[float], agents: list[float],
              overheads: list[float]) -> None:
    for i in range(runs):
        s.push_specs({f"o{i}": spec()})
        t = time.perf_counter()
        started = worker.cycle()
        while worker.busy():
            worker.wake.wait(0.005)
        total = time.perf_counter() - t
        assert started == 1, f"cycle started {started} tasks"
        agent = sum(a["duration"] for a in s.result(f"o{i}")["attempts"])
        totals.append(ms(total))
        agents.append(ms(agent))
        overheads.append(ms(total - agent))


# -- idle poll -----------------------------------------------------------------------------------
def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(ms(time.perf_counter() - t))
    return out


def bench_idle(base: Path, runs: int) -> None:
    print("idle poll (Worker.cycle() with nothing moved on the remote):")
    with site(base / "idle") as s:
        s.push_specs({f"i{n}": spec() for n in range(20)})
        for label, url in (("git://", s.url), ("path", str(s.remote))):
            worker = in_process_worker(s.config(f"idle-{label.strip(':/')}", url=url))
            worker.run_once()  # the 20 tasks done: a realistic set of refs
            values = timed(worker.cycle, runs)
            med = statistics.median(values)
            print(f"  {label:7} {summary(values)}   target < 5 ms: {verdict(med, 5)}")
            worker.stop(5)


# -- detection in a big repository ---------------------------------------------------------------
def bench_detection(base: Path, runs: int) -> None:
    print(f"detecting new specs ({SPECS} specs, {COMMITS} commits, git://):")
    srv = base / "big-srv"
    srv.mkdir(parents=True)
    t = time.perf_counter()
    big_history(srv / "big.git")
    print(f"  build the repository (fast-import)   {ms(time.perf_counter() - t):8.0f} ms")
    server = GitServer(srv)
    server.start()
    try:
        s = Site(base / "big", server, srv / "big.git", base / "big" / "user", base / "c.log")
        worker = in_process_worker(s.config("w1", url=server.url(srv / "big.git")))
        worker.stopping.set()  # detect, never claim: this measures discovery alone
        t = time.perf_counter()
        worker.cycle()
        print(f"  first cycle (clone + full scan)      {ms(time.perf_counter() - t):8.0f} ms")
        head = git("rev-parse", "main", cwd=s.remote)
        cycles = []
        with breakdown() as steps:
            for i in range(runs):
                head = import_commit(s.remote, "main", {f"tasks/new{i:03d}.md": spec()},
                                     f"new spec {i}", parent=head)
                t = time.perf_counter()
                worker.cycle()
                cycles.append(ms(time.perf_counter() - t))
        med = statistics.median(cycles)
        print(f"  a cycle finding one new spec   {summary(cycles)}   target < 20 ms: "
              f"{verdict(med, 20)}")
        print_breakdown(steps, runs, "cycle")
    finally:
        server.stop()


# -- throughput, duplicates, RSS -----------------------------------------------------------------
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def bench_throughput(base: Path, tasks: int) -> None:
    slots = 2 * 2
    print(f"throughput: {tasks} instant tasks, 2 daemons x 2 slots (separate processes, --once):")
    floors = [floor_of_a_task(base / "tp-floor-before")]
    with site(base / "tp") as s:
        s.push_specs({f"t{i:03d}": spec() for i in range(tasks)}, "many tasks")
        configs = [s.config(f"w{n}", max_parallel=2) for n in range(2)]
        t = time.perf_counter()
        procs = [s.start(c, once=True) for c in configs]
        codes = [p.wait(600) for p in procs]
        wall = time.perf_counter() - t
        calls = Counter(s.invocations())
        dups = sum(n - 1 for n in calls.values() if n > 1)
        results = s.results()
        workers = Counter(s.result(tid)["worker"]["id"] for tid in results)
        claims_left = len(s.claims())
        logs = {c.parent.name: slot_idle.read_log((c.parent / "daemon.log").read_text())
                for c in configs}
    floors.append(floor_of_a_task(base / "tp-floor-after"))
    lost = tasks - len(results)
    print(f"  exit codes {codes}; {len(results)} results, {len(calls)} tasks run, "
          f"{dups} duplicate agent runs, {lost} lost results, claims left {claims_left}")
    spans = [span for log in logs.values() for span in log.spans]
    first, last_start = min(a for a, _ in spans), max(a for a, _ in spans)
    steady = len(spans) / (max(b for _, b in spans) - first)
    per_floor = statistics.mean(floors)
    ceiling = slots / (per_floor / 1000)
    print(f"  wall {wall:6.1f} s (daemon start-up included) -> {len(results) / wall:5.1f} tasks/s;"
          f" per worker {dict(sorted(workers.items()))}")
    print(f"  pygit2 floor of one task (fetch, claim push, result push) {per_floor:6.1f} ms "
          f"(before {floors[0]:.1f}, after {floors[1]:.1f}) -> {slots} slots / floor = "
          f"{ceiling:5.1f} tasks/s")
    figure("tasks/s, first start -> last publication", f"{steady:.2f} tasks/s",
           f">= 0.70 x slots/floor = {0.7 * ceiling:.1f}", f"{steady / ceiling:.2f} (goal >= 0.70)")
    figure("tasks/s, wall (daemon start-up included)", f"{len(results) / wall:.2f} tasks/s",
           f">= 0.70 x slots/floor = {0.7 * ceiling:.1f}",
           f"{len(results) / wall / ceiling:.2f} (goal >= 0.70)")
    figure("duplicate runs / lost results", f"{dups} / {lost}", "0 / 0", "-")
    for name, log in sorted(logs.items()):
        idle = slot_idle.idle(log, 2, last_start)
        print(f"  {name}: a slot idle while specs waited {idle.slot_seconds:6.2f} slot-s "
              f"({idle.share:5.1%} of its slot time until the last start); a freed slot "
              f"refilled after {idle.refill_ms:6.1f} ms (median)")


def floor_of_a_task(root: Path, runs: int = 7) -> float:
    """finished_bench's pygit2 floor (ms) on a fresh site of this run's server set-up."""
    with site(root) as s:
        return finished_bench.floor(s, root / "floor.git", runs)


def bench_rss(base: Path, tasks: int) -> None:
    print("daemon RSS (VmRSS of a running daemon):")
    with site(base / "rss") as s:
        config = s.config("w1", poll_interval="1s")
        proc = s.start(config)
        wait_first_poll(s, "w1")
        time.sleep(3)
        fresh = rss_mb(proc.pid)
        print(f"  idle, fresh                     {fresh:8.1f} MB   target < 80 MB: "
              f"{verdict(fresh, 80)}")
        s.push_specs({f"r{i:03d}": spec() for i in range(tasks)})
        subprocess.run(mtor("poke", "--config", str(config)), env=DAEMON_ENV, check=True)
        wait_for(lambda: len(s.results()) >= tasks, 600, "every result")
        time.sleep(3)
        after = rss_mb(proc.pid)
        print(f"  idle, after {tasks} tasks          {after:8.1f} MB   target < 80 MB: "
              f"{verdict(after, 80)}")
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default: {','.join(SECTIONS)})")
    args = parser.parse_args()
    logger.remove()
    runs = 5 if args.quick else 20
    sizes = {"idle": runs * 5, "overhead": runs, "latency": runs,
             "detection": runs, "throughput": 40 if args.quick else 200,
             "rss": 10 if args.quick else 50}
    print(f"mtor-git daemon bench ({os.cpu_count()} cpus, python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory(prefix="mtor-daemon-bench-") as tmp:
        for name in args.only.split(","):
            SECTIONS[name](Path(tmp), sizes[name])
    print(f"(load average at the end {os.getloadavg()[0]:.1f})")


SECTIONS: dict[str, Callable[[Path, int], None]] = {
    "idle": bench_idle, "overhead": bench_overhead, "latency": bench_latency,
    "detection": bench_detection, "throughput": bench_throughput, "rss": bench_rss}


if __name__ == "__main__":
    main()
