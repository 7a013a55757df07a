"""Figures for the git operations a worker cycle makes: idle fetch and ls-remote (plain path and
git://), claim push, and tree reads in a repository of 10,000 specs and 2,000 commits.

    /work/venv/bin/python bench/git_ops.py

Prints medians; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitfixtures import (  # noqa: E402
    USER_EMAIL,
    USER_NAME,
    fast_import,
    git,
    git_daemon,
    make_bare_remote,
)

from mtor_git import git as gitops  # noqa: E402

SPECS, COMMITS = 10_000, 2_000


def median_ms(fn: Callable[[], object], runs: int = 30) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def big_history(repo: Path, *, specs_per_commit: bool = True) -> None:
    """One commit of specs, then COMMITS commits editing code and (the worst case for reading
    tasks/) each adding a spec; SPECS specs in all."""
    who = f"{USER_NAME} <{USER_EMAIL}>"
    out = []
    first = SPECS - COMMITS if specs_per_commit else SPECS
    files = b"".join(_inline(f"tasks/t{i:05d}.md", _spec(i)) for i in range(first))
    out.append(_commit(who, 1_700_000_000, "many specs") + b"deleteall\n" + files)
    for n in range(COMMITS):
        body = _inline("src/app.py", f"VERSION = {n}\n".encode())
        if specs_per_commit:
            body += _inline(f"tasks/n{n:05d}.md", _spec(first + n))
        out.append(_commit(who, 1_700_000_001 + n, f"commit {n}") + body)
    git("init", "--quiet", "--bare", "-b", "main", repo)
    fast_import(repo, b"\n".join(out) + b"\n")


def _commit(who: str, when: int, msg: str) -> bytes:
    return (f"commit refs/heads/main\ncommitter {who} {when} +0000\ndata {len(msg)}\n{msg}\n"
            .encode())


def _inline(path: str, data: bytes) -> bytes:
    return f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"


def _spec(i: int) -> bytes:
    return f"---\ntitle: task {i}\nagent: claude\n---\nDo thing number {i}.\n".encode()


def bench_remote(label: str, url: str, work: Path) -> None:
    repo = gitops.open_or_clone(url, work / f"{label}.git", bare=True)
    gitops.fetch(repo)
    print(f"  idle fetch            {label:9} {median_ms(lambda: gitops.fetch(repo)):8.2f} ms")
    print(f"  ls-remote             {label:9} "
          f"{median_ms(lambda: gitops.remote_refs(repo)):8.2f} ms")
    counter = iter(range(10**6))

    def claim() -> None:
        ref = f"refs/mtor/claims/{label.strip(':/')}-{next(counter)}"
        gitops.compare_and_swap(repo, ref, expected=None,
                                files={"claim.json": b'{"worker": "bench"}'}, message="claim")

    print(f"  claim push (new ref)  {label:9} {median_ms(claim):8.2f} ms")


def bench_trees(repo_path: Path, work: Path) -> None:
    start = time.perf_counter()
    repo = gitops.open_or_clone(str(repo_path), work / "big.git", bare=True)
    print(f"  clone (big)                     {(time.perf_counter() - start) * 1000:8.2f} ms")
    head = gitops.resolve(repo, "main")
    assert head is not None
    old = git("rev-parse", f"main~{COMMITS - 1}", cwd=repo_path)
    parent = git("rev-parse", "main~1", cwd=repo_path)
    n = len(gitops.changed_paths(repo, old, head, "tasks"))
    print(f"  changed_paths {COMMITS - 1} commits ({n} specs) "
          f"{median_ms(lambda: gitops.changed_paths(repo, old, head, 'tasks'), 10):8.2f} ms")
    print(f"  changed_paths 1 commit          "
          f"{median_ms(lambda: gitops.changed_paths(repo, parent, head, 'tasks'), 10):8.2f} ms")
    print(f"  changed_paths None -> head      "
          f"{median_ms(lambda: gitops.changed_paths(repo, None, head, 'tasks'), 5):8.2f} ms")
    size = len(gitops.list_tree(repo, head, "tasks"))
    print(f"  list_tree tasks/ ({size} files) "
          f"{median_ms(lambda: gitops.list_tree(repo, head, 'tasks'), 10):8.2f} ms")
    print(f"  read_blob                       "
          f"{median_ms(lambda: gitops.read_blob(repo, head, 'tasks/t00042.md')):8.3f} ms")
    oldest = median_ms(lambda: gitops.commit_of_path_addition(repo, head, "tasks/t00001.md"), 3)
    newest = median_ms(lambda: gitops.commit_of_path_addition(repo, head, "tasks/n01999.md"))
    print(f"  commit_of_path_addition newest  {newest:8.2f} ms")
    print(f"  commit_of_path_addition oldest  {oldest:8.2f} ms   (tasks/ changed in every commit)")


def bench_code_history(repo_path: Path, work: Path) -> None:
    big_history(repo_path, specs_per_commit=False)
    repo = gitops.open_or_clone(str(repo_path), work / "code.git", bare=True)
    head = gitops.resolve(repo, "main")
    assert head is not None
    oldest = median_ms(lambda: gitops.commit_of_path_addition(repo, head, "tasks/t00001.md"), 5)
    print(f"  commit_of_path_addition oldest  {oldest:8.2f} ms   ({COMMITS} code-only commits)")


def main() -> None:
    logger.remove()
    with tempfile.TemporaryDirectory(prefix="mtor-bench-") as tmp:
        base = Path(tmp)
        small = make_bare_remote(base / "srv" / "small.git")
        print("remote operations (small repository, loopback):")
        bench_remote("path", str(small), base / "work")
        with git_daemon(base / "srv") as daemon:
            bench_remote("git://", daemon.url(small), base / "work")
        print(f"tree operations ({SPECS} specs, {COMMITS} commits):")
        start = time.perf_counter()
        big_history(base / "srv" / "big.git")
        print(f"  build with fast-import          {(time.perf_counter() - start) * 1000:8.0f} ms")
        bench_trees(base / "srv" / "big.git", base / "work")
        bench_code_history(base / "srv" / "code.git", base / "work")


if __name__ == "__main__":
    main()
