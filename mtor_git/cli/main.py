"""Parse the command line, dispatch to one subcommand module, map errors to exit codes."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from types import ModuleType

from mtor_git import __version__
from mtor_git.cli.output import echo
from mtor_git.errors import (
    ConfigError,
    MtorError,
    NothingToShow,
    SpecError,
    TimedOut,
    UnknownTask,
    UsageError,
)

# The exit codes of every verb (README "Exit codes"): 0 ok; 1 the task failed or is unknown, or a
# check failed; 2 usage (an invalid id included); 78 configuration; 124 timed out; 130 Ctrl-C.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONFIG = 0, 1, 2, 78
EXIT_TIMEOUT, EXIT_INTERRUPTED = 124, 130
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
    "deploy": "deploy",
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
    # A verb added with help=SUPPRESS (`hook`, what installed hooks call) still gets a row in
    # --help, reading "==SUPPRESS==": drop its row; it stays callable.
    sub._choices_actions = [a for a in sub._choices_actions if a.help != argparse.SUPPRESS]
    return parser


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"mtor_git.cli.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(list(sys.argv[1:] if argv is None else argv))
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


def _main(words: list[str]) -> int:
    try:
        args = build_parser(words[0] if words else None).parse_args(words)
        if args.command is None:
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        code: int = args.handler(args)
        return code
    except KeyboardInterrupt:
        return _fail(words, EXIT_INTERRUPTED, "interrupted", "interrupted")
    except MtorError as exc:
        code, kind = _classify(exc)
        text = str(exc)
        if isinstance(exc, SpecError):
            echo(text, file=sys.stderr)
        else:
            prefix = "configuration error: " if isinstance(exc, ConfigError) else ""
            echo(f"mtor-git: {prefix}{text}", file=sys.stderr)
        return _fail(words, code, kind, text)


def _classify(exc: MtorError) -> tuple[int, str]:
    """The exit code and JSON `kind` of an error: the one table of the README's exit codes."""
    for cls, code, kind in ((UsageError, EXIT_USAGE, "usage"), (ConfigError, EXIT_CONFIG, "config"),
                            (UnknownTask, EXIT_FAILED, "unknown_task"),
                            (NothingToShow, EXIT_FAILED, "nothing_to_show"),
                            (TimedOut, EXIT_TIMEOUT, "timed_out"),
                            (SpecError, EXIT_FAILED, "invalid_spec")):
        if isinstance(exc, cls):
            return code, kind
    return EXIT_FAILED, "error"


def _fail(words: Sequence[str], code: int, kind: str, message: str) -> int:
    """Under --json, an error is a JSON object on stdout too (stderr keeps the human line)."""
    if "--json" in words:
        json.dump({"version": 1, "ok": False,
                   "error": {"kind": kind, "message": message, "exit": code}}, sys.stdout)
        sys.stdout.write("\n")
    return code
