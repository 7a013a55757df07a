"""`mtor-git doctor [--config F] [--env-file F] [--json] [--probe]`: preflight every part a run
needs, honestly; exit 1 when any check fails.

JSON (`--json`, version 1):
    {"version": 1, "checks": [{"name", "status": pass|fail|warn|skip, "detail", "hint"}],
     "ok": bool}
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from loguru import logger

from mtor_git.cli.common import print_json
from mtor_git.cli.output import echo
from mtor_git.doctor.run import Check, DoctorOptions, DoctorReport, run_doctor

_LABEL = {"pass": "PASS", "fail": "FAIL", "warn": "WARN", "skip": "SKIP"}
_INDENT = " " * 6


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check every part a run needs: config, env, agents, "
                       "disk, remotes, clock, the running daemon",
                       description="Check everything a task run needs, in the environment the "
                       "daemon really gets. Exit 1 when anything fails.")
    p.add_argument("--config", type=Path, help="configuration file (default: the daemon's)")
    p.add_argument("--env-file", type=Path, help="the systemd EnvironmentFile the service "
                   "uses: check variables as systemd loads them, not as this shell has them")
    p.add_argument("--json", action="store_true", help="print versioned JSON")
    p.add_argument("--probe", action="store_true", help="also run each agent once on a "
                   "one-line prompt (one real model call per profile)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Library warnings (a clone, a failed spawn) would interleave with the verdict lines;
    # every finding is in a check already.
    logger.disable("mtor_git")
    options = DoctorOptions(config_path=args.config, env_file=args.env_file,
                            environ=dict(os.environ), probe=args.probe)
    report = run_doctor(options, on_check=None if args.json else _print_check)
    if args.json:
        print_json(report.to_json())
    else:
        echo(summary(report))
    return 0 if report.ok else 1


def _print_check(check: Check) -> None:
    echo("\n".join(check_lines(check)), flush=True)


def check_lines(check: Check) -> list[str]:
    first, *rest = check.detail.splitlines() or [""]
    lines = [f"{_LABEL[check.status]}  {check.name}: {first}"]
    lines += [_INDENT + line for line in rest]
    if check.hint and check.status in ("fail", "warn"):
        lines.append(f"{_INDENT}fix: {check.hint}")
    return lines


def summary(report: DoctorReport) -> str:
    counts = {s: sum(1 for c in report.checks if c.status == s)
              for s in ("pass", "warn", "fail", "skip")}
    text = (f"doctor: {counts['pass']} passed, {counts['warn']} warning(s), "
            f"{counts['fail']} failed, {counts['skip']} skipped")
    if not report.ok:
        failed = ", ".join(c.name for c in report.checks if c.status == "fail")
        text += f"; not ready: {failed}"
    return text
