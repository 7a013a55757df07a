"""Time `validate` over 10,000 specs in a temporary repository: in-process through the library
(work tree and index) and through the CLI as a user runs it (work tree, --staged, and the
pre-commit hook inside `git commit`). Prints figures; the target is under 2 s for each.

    python bench/validate_specs.py [--count N] [--repeat R] [--profile] [--keep]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from mtor_git.client import hooks
from mtor_git.spec import yamlload
from mtor_git.spec.validate import check_files, check_index, spec_files

TARGET_S = 2.0
CLI = (sys.executable, "-m", "mtor_git")


def spec_text(i: int) -> str:
    """Specs of varied shape: optional keys, dash lines and bullets in the body, 0.2-3 KB."""
    front = [f"title: Task number {i}, tidy module {i % 97}" if i % 5 else f"title: Task {i}"]
    if i % 2:
        front.append("agent: claude")
    if i % 3:
        front.append(f"timeout: {1 + i % 59}m")
    if i % 4 == 0:
        front += ["model: glm-5.1", f"max_attempts: {1 + i % 5}", "base: main"]
    if i % 7 == 0:
        front += [f"id: t{i:05d}", "max_cost_usd: 2.5"]
    body = [f"Fix issue {i} in the table handler.", "", "---", "- keep spanned cells",
            "- add a test"] + [f"Detail line {n} for task {i}." for n in range(i % 80)]
    return "---\n" + "\n".join(front) + "\n---\n" + "\n".join(body) + "\n"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def make_repo(root: Path, count: int) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "bench")
    git(root, "config", "user.email", "bench@example.org")
    git(root, "commit", "-q", "--allow-empty", "-m", "root")
    tasks = root / "tasks"
    tasks.mkdir()
    for i in range(count):
        (tasks / f"t{i:05d}.md").write_text(spec_text(i))
    git(root, "add", "tasks")


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, object]:
    """(best wall, median wall, best CPU) seconds of `repeat` runs, and the last result.

    CPU counts this process and the children it waited for: on a busy machine it stays close
    to what an idle one would show as wall time, where wall time does not."""
    walls, cpus = [], []
    result: object = None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), _cpu()
        result = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), statistics.median(walls), min(cpus), result


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([*CLI, *args], cwd=root, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{args} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return proc


def commit(root: Path, *flags: str) -> None:
    """Commit every staged spec, then undo the commit (not the staging) for the next run."""
    git(root, "commit", "-q", "-m", "specs", *flags)
    git(root, "reset", "-q", "--soft", "HEAD~1")


def expect_all_valid(results: object, count: int) -> None:
    assert isinstance(results, list)
    bad = [str(p) for r in results for p in r.problems]
    if len(results) != count or bad:
        raise SystemExit(f"expected {count} valid specs, got {len(results)}: {bad[:5]}")


def report(name: str, best: float, median: float, cpu: float) -> None:
    verdict = "ok" if best < TARGET_S else "MISSES the 2 s target"
    print(f"  {name:<40} wall best {best:6.3f} s  median {median:6.3f} s  "
          f"cpu {cpu:6.3f} s  {verdict}")


def profile(root: Path) -> None:
    prof = cProfile.Profile()
    prof.runcall(lambda: check_files(spec_files(root), root=root))
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(18)
    print(out.getvalue())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile the in-process run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary repository")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mtor-bench-"))
    try:
        start = time.perf_counter()
        make_repo(root, args.count)
        size = sum(p.stat().st_size for p in (root / "tasks").iterdir())
        print(f"{args.count} specs, {size / 1e6:.1f} MB, generated and staged in "
              f"{time.perf_counter() - start:.1f} s at {root}")
        loader = "libyaml" if yamlload._LOADER is not yamlload._PyLoader else "pure Python"
        print(f"python {sys.version.split()[0]}, YAML scanner: {loader}, cpus {os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f} (wall times need an idle machine)")
        repo = pygit2.Repository(str(root))

        print("library (in-process):")
        best, med, cpu, res = timed(lambda: check_files(spec_files(root), root=root), args.repeat)
        expect_all_valid(res, args.count)
        report("check_files(spec_files(root))  work tree", best, med, cpu)
        best, med, cpu, res = timed(lambda: check_index(repo), args.repeat)
        expect_all_valid(res, args.count)
        report("check_index(repo)              index", best, med, cpu)

        print("CLI (subprocess, interpreter start-up included):")
        best, med, cpu, _ = timed(lambda: cli(root, "--version"), args.repeat)
        report("mtor-git --version  (start-up alone)", best, med, cpu)
        best, med, cpu, _ = timed(lambda: cli(root, "validate"), args.repeat)
        report("mtor-git validate", best, med, cpu)
        best, med, cpu, _ = timed(lambda: cli(root, "validate", "--staged"), args.repeat)
        report("mtor-git validate --staged", best, med, cpu)
        best, med, cpu, _ = timed(lambda: cli(root, "validate", "--json"), args.repeat)
        report("mtor-git validate --json", best, med, cpu)

        print("git commit of every spec at once:")
        best_plain, med_plain, cpu_plain, _ = timed(lambda: commit(root, "--no-verify"),
                                                    args.repeat)
        report("git commit --no-verify  (git alone)", best_plain, med_plain, cpu_plain)
        hooks.install(repo)
        best, med, cpu, _ = timed(lambda: commit(root), args.repeat)
        report("git commit  (pre-commit hook included)", best, med, cpu)
        print(f"  {'hook share':<40} wall {best - best_plain:6.3f} s  cpu {cpu - cpu_plain:6.3f} s")

        if args.profile:
            profile(root)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
