"""`mtor-git demo [--dir D]`: the whole loop in a sandbox, printed as a user would see it."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mtor_git.cli.output import echo
from mtor_git.demo import run as demo
from mtor_git.logs import setup_logging


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="the whole loop in a sandbox: no account, key or network")
    p.add_argument("--dir", type=Path, help="keep the sandbox here (default: a temporary "
                   "directory, removed afterwards)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mtor_git.cli.main import main

    keep = args.dir is not None
    root = args.dir.resolve() if keep else Path(tempfile.mkdtemp(prefix="mtor-git-demo-"))
    if keep and root.exists() and any(root.iterdir()):
        from mtor_git.errors import UsageError
        raise UsageError(f"demo: {root} is not empty; give a new or empty --dir")
    started = time.monotonic()
    # The worker's log goes to the sandbox; the terminal shows what a user would look at.
    handle = setup_logging(file=root / "worker" / "mtor-git.log", stderr_level="WARNING")
    try:
        box = demo.build(root)
        ids = demo.dispatch_all(box)
        echo(f"sandbox {root}: remote.git, a clone with hooks, a worker; dispatched "
             f"{', '.join(ids)}\n")
        demo.run_worker(box)
        with _cwd(box.clone):
            _section("mtor-git status")
            main(["status"])
            _section("mtor-git pr add-greeting")
            main(["pr", "add-greeting"])
            _section("mtor-git history misconfigured-flag")
            main(["history", "misconfigured-flag"])
        echo(f"\n(demo finished in {time.monotonic() - started:.1f}s)")
        if keep:
            echo(f"\nExplore it:\n  cd {box.clone}\n  mtor-git status\n"
                 f"  mtor-git history rate-limited-once\n"
                 f"  mtor-git daemon --once --config {box.config_path}")
        else:
            echo("\nRun `mtor-git demo --dir DIR` to keep the sandbox and explore it.")
        return 0
    finally:
        handle.close()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _section(title: str) -> None:
    echo(f"\n$ {title}")


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
