"""Refused edits: what an agent CLI's own tooling says when it blocked a write (a permission
denial, a rejected patch, a read-only sandbox), quoted from its output. Never raises.

Each CLI says it differently and some only on stderr, so each has its own reader here; the
classifier turns any quote into a terminal `edit_blocked`, because an edit the tooling refused was
not made, however the agent's closing words sound.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

MAX_REFUSALS = 5
MAX_CHARS = 300

# Codex (0.171): a rejected patch is an ERROR line of its tool router on stderr, never a --json
# event; a shell write its sandbox blocked is a WARN line of codex_sandboxing (visible with the
# profile's RUST_LOG) or, when the command's item is reported, its output.
_CODEX_STDERR = re.compile(
    r"codex_core::tools::router: error=(?P<router>.*\b(?:rejected|blocked)\b.*)"
    r"|codex_sandboxing::violation: (?P<violation>.*)")
_VIOLATION_PATH = re.compile(r"\bpath=(\S+)")
_ROFS_PATH = re.compile(r"(\S+): Read-only file system", re.IGNORECASE)
_SANDBOX_OUTPUT = re.compile(r"read-only file system|bwrap: execvp", re.IGNORECASE)
# aider (0.86): the lines its edit step prints when it leaves a file alone or cannot write it.
_AIDER = re.compile(
    r"^\s*(?:Skipping edits to \S.*|Unable to create \S.*skipping edits\.?"
    r"|Unable to write file \S.*|Can not create \S.*, skipping\.?"
    r"|Skipping \S+ that matches (?:gitignore|aiderignore) spec\.?)\s*$")


def codex_refusals(events: Iterable[Mapping[str, Any]], stderr: str,
                   cwd: str = "") -> tuple[str, ...]:
    """Rejected patches and sandbox-blocked commands of one `codex exec --json` run. A blocked
    write that names a path outside `cwd` (a cache under HOME) is not a refused edit."""
    found: list[str] = []
    for line in stderr.splitlines():
        m = _CODEX_STDERR.search(line)
        if m and m.group("router"):
            found.append(m.group("router"))
        elif m and _in_checkout(_violation_path(m.group("violation")), cwd):
            found.append(f"sandbox violation: {m.group('violation')}")
    for event in events:
        item = event.get("item") if event.get("type") == "item.completed" else None
        if not isinstance(item, dict):
            continue
        if item.get("type") == "command_execution" and item.get("exit_code") not in (0, None):
            output = item.get("aggregated_output")
            lines = output.splitlines() if isinstance(output, str) else []
            found += [f"{_command(item)}: {ln}" for ln in lines if _SANDBOX_OUTPUT.search(ln)
                      and _in_checkout(_blocked_path(ln), cwd)]
        elif item.get("type") == "file_change" and item.get("status") not in ("completed", None):
            changes = item.get("changes")
            paths = [c.get("path") for c in changes if isinstance(c, dict)] if isinstance(
                changes, list) else []
            found.append(f"file change {item.get('status')}: "
                         f"{', '.join(str(p) for p in paths) or 'no path'}")
    return _bounded(found)


def _blocked_path(line: str) -> str:
    m = _ROFS_PATH.search(line)
    return m.group(1).strip("'\"") if m else "unknown"


def _violation_path(violation: str) -> str:
    m = _VIOLATION_PATH.search(violation)
    return m.group(1) if m else "unknown"


def _in_checkout(where: str, cwd: str) -> bool:
    """A path codex could not say (`unknown`), a relative one, or one inside the checkout."""
    if where == "unknown" or not where.startswith("/") or not cwd:
        return True
    return where == cwd or where.startswith(cwd.rstrip("/") + "/")


def aider_refusals(text: str) -> tuple[str, ...]:
    """The files aider skipped or could not write."""
    return _bounded(line for line in text.splitlines() if _AIDER.match(line))


def claude_refusals(denials: object) -> tuple[str, ...]:
    """Claude Code's `permission_denials`: the tool and the file (or command) it was denied."""
    if not isinstance(denials, list):
        return ()
    found: list[str] = []
    for denial in denials:
        if not isinstance(denial, dict):
            found.append(f"denied: {json.dumps(denial)}")
            continue
        tool = denial.get("tool_name")
        given = denial.get("tool_input")
        given = given if isinstance(given, dict) else {}
        target = next((given[k] for k in ("file_path", "notebook_path", "path", "command")
                       if isinstance(given.get(k), str)), None)
        found.append(f"{tool if isinstance(tool, str) else 'a tool'} denied"
                     + (f": {target}" if target else ""))
    return _bounded(found)


def _command(item: Mapping[str, Any]) -> str:
    command = item.get("command")
    return f"`{command}`" if isinstance(command, str) else "a command"


def _bounded(items: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        text = item.strip()
        text = text if len(text) <= MAX_CHARS else text[:MAX_CHARS] + "…"
        if text and text not in out:
            out.append(text)
        if len(out) >= MAX_REFUSALS:
            break
    return tuple(out)
