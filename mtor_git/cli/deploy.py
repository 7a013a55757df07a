"""`mtor-git deploy systemd|config|env`: print or write the deployment files this installation
carries, with its own program path (no source checkout needed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mtor_git.cli.output import echo
from mtor_git.deploy import files


def add_parser(sub: Any) -> None:
    d = sub.add_parser("deploy", help="print or write the systemd unit, example config or env "
                       "file for this installation")
    dsub = d.add_subparsers(dest="deploy_command", metavar="WHAT", required=True,
                            parser_class=type(d))
    s = dsub.add_parser("systemd", help="the systemd unit, ExecStart= running this installation")
    s.add_argument("--user", action="store_true", help="the per-user unit (systemctl --user)")
    s.add_argument("--write", type=Path, metavar="DIR",
                   help=f"write DIR/{files.UNIT_NAME} instead of printing it "
                   "(/etc/systemd/system, or ~/.config/systemd/user with --user)")
    s.add_argument("--config", help=f"the config ExecStart= names (default: {files.SYSTEM_CONFIG}"
                   f", with --user {files.USER_CONFIG.replace('%', '%%')})")
    s.add_argument("--exec", dest="program", help="the program ExecStart= runs (default: this "
                   f"installation's, {' '.join(files.program()).replace('%', '%%')})")
    s.add_argument("--force", action="store_true", help="overwrite an existing file")
    s.set_defaults(handler=run_systemd)
    for what, text in (("config", "the complete, commented example configuration"),
                       ("env", "the example secrets file for systemd's EnvironmentFile=")):
        c = dsub.add_parser(what, help=text)
        c.add_argument("--write", type=Path, metavar="FILE", help="write FILE instead of "
                       "printing it (mode 0640 for the config, 0600 for the env file)")
        c.add_argument("--force", action="store_true", help="overwrite an existing file")
        c.set_defaults(handler=run_file, what=what)


def run_systemd(args: argparse.Namespace) -> int:
    text = files.systemd_unit(user=args.user, config=args.config,
                              command=[args.program] if args.program else None)
    if args.write is None:
        sys.stdout.write(text)
        return 0
    target = args.write / files.UNIT_NAME
    files.write_new(target, text, mode=0o644, force=args.force)
    echo(f"wrote {target}", file=sys.stderr)
    return 0


_FILES = {"config": ("config.example.yaml", 0o640), "env": ("mtor-git.env.example", 0o600)}


def run_file(args: argparse.Namespace) -> int:
    name, mode = _FILES[args.what]
    text = files.data(name)
    if args.write is None:
        sys.stdout.write(text)
        return 0
    files.write_new(args.write, text, mode=mode, force=args.force)
    echo(f"wrote {args.write}", file=sys.stderr)
    return 0
