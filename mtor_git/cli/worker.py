"""`mtor-git daemon [--config F] [--once]`, `mtor-git poke` and `mtor-git run <spec>`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from mtor_git import paths
from mtor_git.cli.output import echo


def add_parser(sub: Any) -> None:
    d = sub.add_parser("daemon", help="run the worker: poll, claim, run agents, push results",
                       description=f"The worker. Default config: {paths.config_file()}")
    d.add_argument("--config", type=Path, help="configuration file")
    d.add_argument("--once", action="store_true",
                   help="one full cycle: run every task that can run now, then exit")
    d.set_defaults(handler=run_daemon)

    p = sub.add_parser("poke", help="make a running daemon on this host poll now")
    p.add_argument("--config", type=Path, help="configuration file (for its runtime_dir)")
    p.add_argument("--quiet", action="store_true", help="for hooks and scripts: no message, and "
                   "exit 0 even when no daemon listens (the next poll picks the push up)")
    p.add_argument("--json", action="store_true", help="print versioned JSON")
    p.set_defaults(handler=run_poke)

    r = sub.add_parser("run", help="run one spec's agent here, with the daemon's policy; "
                       "no claim, no push")
    r.add_argument("spec", type=Path)
    r.add_argument("--config", type=Path, help="configuration file")
    r.add_argument("--json", action="store_true", help="print the result JSON")
    r.set_defaults(handler=run_local_cmd)


def run_daemon(args: argparse.Namespace) -> int:
    from mtor_git.config.load import check_runnable, load_config
    from mtor_git.config.sandbox import resolve_sandbox
    from mtor_git.logs import setup_logging
    from mtor_git.worker.daemon import Daemon, check_remotes, hold_instance_lock

    environ = dict(os.environ)
    config = load_config(args.config, environ=environ)
    check_runnable(config, environ)  # exit 78 before anything is scheduled
    resolve_sandbox(config, environ)  # exit 78 when `sandbox: bwrap` cannot run here
    lock = hold_instance_lock(config.state_dir)  # noqa: F841 - held until the process exits
    handle = setup_logging(file=config.log.file, rotation=config.log.rotation,
                           retention=config.log.retention, json_file=config.log.json_file,
                           stderr_level=config.log.level)
    try:
        daemon = Daemon(config, environ)
        check_remotes(config)  # exit 78 on a refused key, token, host key or certificate
        if args.once:
            daemon.worker.run_once()
            daemon.worker.stop(config.shutdown_grace)
            daemon.write_status(stopped=True, once=True)
            return 0
        return daemon.run()
    finally:
        handle.close()


def run_poke(args: argparse.Namespace) -> int:
    # Imports stay light: the post-receive hook runs this on every push.
    from mtor_git.worker.poke import poke

    runtime = paths.runtime_dir()
    if args.config is not None:
        from mtor_git.config.load import load_config

        runtime = load_config(args.config).runtime_dir
    listening = poke(runtime)
    if args.json:
        print(json.dumps({"version": 1, "ok": listening or args.quiet, "poked": listening,
                          "runtime_dir": str(runtime)}))
    elif not listening and not args.quiet:
        echo(f"mtor-git: no daemon is listening at {runtime}", file=sys.stderr)
    return 0 if listening or args.quiet else 1


def run_local_cmd(args: argparse.Namespace) -> int:
    from mtor_git.cli.common import print_json
    from mtor_git.config.load import load_config
    from mtor_git.config.sandbox import resolve_sandbox
    from mtor_git.states import TaskStatus
    from mtor_git.task.local import run_local
    from mtor_git.task.result import pr_body

    environ = dict(os.environ)
    config = load_config(args.config, environ=environ)
    resolved = resolve_sandbox(config, environ)
    if resolved.sandbox.mode == "none":
        echo(f"mtor-git: {resolved.reason}", file=sys.stderr)
    # Its private dirs in the system's temp dir: a daemon sweeping the workspace's at start
    # must never take those of a run going on beside it.
    # The user's own worktree: its git dirs (a linked worktree's) are shown to the agent.
    sandbox = dataclasses.replace(resolved.sandbox, scratch=None, checkout_git=True)
    result = run_local(args.spec, config, Path.cwd(), environ, sandbox=sandbox)
    if args.json:
        print_json(result.to_json())
    else:
        echo(pr_body(result))
    return 0 if result.status == TaskStatus.SUCCEEDED else 1
