"""Parse the command line, dispatch to one subcommand module, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import ModuleType

from mtor_git import __version__
from mtor_git.cli.output import echo
from mtor_git.errors import ConfigError, MtorError, SpecError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 78
# The reader went away (`mtor-git result x | head -1`): end quietly with the status a process
# killed by SIGPIPE has, as `git log | head` does.
EXIT_PIPE = 128 + signal.SIGPIPE

# Subcommand name -> module under mtor_git.cli (each has add_parser(sub) and run(args) -> int).
COMMANDS: dict[str, str] = {
    "init": "init",
    "new": "new",
    "validate": "validate",
    "hooks": "init",
    "hook": "init",
    "dispatch": "steer", "retry": "steer", "cancel": "steer",
    "status": "status", "watch": "watch",
    "result": "results", "history": "results", "pr": "results",
    "daemon": "worker",
    "poke": "worker",
    "run": "worker",
    "demo": "demo",
    "doctor": "doctor",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        sub = self.prog.partition(" ")[2]  # "validate" of "mtor-git validate"; main adds the rest
        raise UsageError(f"{sub}: {message}" if sub else message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with a known `command`, only that subcommand's module is imported, so a hook
    starts fast and a broken import elsewhere cannot break `validate`."""
    parser = _Parser(prog="mtor-git", description="Dispatch coding tasks to headless AI agents "
                     "through git alone.")
    parser.add_argument("--version", action="version", version=f"mtor-git {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = [COMMANDS[command]] if command in COMMANDS else list(COMMANDS.values())
    for module_name in dict.fromkeys(wanted):
        _module(module_name).add_parser(sub)
    return parser


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"mtor_git.cli.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
        return code
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_PIPE


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush of what is still
    buffered does not fail again on the closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
    try:
        words = list(sys.argv[1:] if argv is None else argv)
        args = build_parser(words[0] if words else None).parse_args(words)
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        echo(f"mtor-git: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        echo(f"mtor-git: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SpecError as exc:
        echo(exc, file=sys.stderr)
        return EXIT_FAILED
    except MtorError as exc:
        echo(f"mtor-git: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
