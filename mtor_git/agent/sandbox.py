"""The attempt sandbox: what one agent attempt may see and touch, as a bubblewrap command line
(the host-side handle that ends every process of it: agent/sandbox_handle.py).

An attempt runs as `bwrap ... -- <agent argv>` in its own PID and IPC namespaces (and network, for
`network: none`), with every capability dropped (as root, bwrap would otherwise keep them and the
agent could remount `/` read-write). The agent sees the system read-only, its checkout read-write,
a private HOME and /tmp, and the paths its profile declares; the users' homes, /tmp, /var/tmp,
/run/user and every place of the worker's own (workspace, state, runtime, config, logs, keys) are
covered. A fresh /proc shows only the attempt's own processes. When bwrap's init (PID 1 of the
namespace) dies, the kernel kills every process of the namespace, `setsid` double-forks included.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from mtor_git.errors import PreflightError

SandboxMode = Literal["bwrap", "none"]
Network = Literal["host", "none"]
SANDBOX_MODES: tuple[str, ...] = ("bwrap", "none")
NETWORKS: tuple[str, ...] = ("host", "none")

# Covered on every machine: the users' homes (~/.ssh, ~/.config), shared temp dirs and the
# per-user runtime dirs (ssh-agent and keyring sockets). /tmp gets the private TMPDIR instead.
ALWAYS_HIDDEN: tuple[Path, ...] = (Path("/home"), Path("/root"), Path("/var/tmp"),
                                   Path("/run/user"))
# Secrets of the system itself, covered by an empty file: a daemon running as root keeps uid 0
# inside (without capabilities, but the owner of these files).
SYSTEM_SECRETS: tuple[str, ...] = ("/etc/shadow", "/etc/gshadow", "/etc/ssh/ssh_host_*_key")
INSIDE_TMP = Path("/tmp")
# Never covered as a whole (a worker path directly in one of them hides only itself).
_SYSTEM = frozenset(Path(p) for p in ("/", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32",
                                      "/lib64", "/libx32", "/opt", "/var", "/var/lib", "/srv",
                                      "/proc", "/sys", "/dev", "/boot", "/run", "/mnt", "/tmp",
                                      "/var/log", "/home", "/root", "/usr/local"))

_SYSTEM_TREES = tuple(Path(p) for p in ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32",
                                        "/lib64", "/libx32", "/opt", "/proc", "/sys", "/dev",
                                        "/boot"))


@dataclass(frozen=True)
class SandboxPath:
    """A path a profile shows its agent (`sandbox_paths`), read-only unless `writable`."""

    path: Path
    writable: bool = False


@dataclass(frozen=True)
class Sandbox:
    """The worker's setting, resolved once at start: `bwrap` (the binary's absolute path) or
    `none`; `hide` the worker's own places; `scratch` where private HOME/TMPDIR dirs are made."""

    mode: SandboxMode = "none"
    bwrap: str | None = None
    hide: tuple[Path, ...] = ()
    scratch: Path | None = None
    # A private HOME kept across the attempts of one task (where a CLI keeps the session the next
    # attempt resumes); made and removed by the task's owner. None: a fresh HOME per attempt.
    home: Path | None = None
    # Whether the git dirs the checkout's own files name (a linked worktree's `gitdir:`, its
    # alternates) are shown: only for `mtor-git run` in a user's own worktree. A worker's task
    # checkout is the agent's to rewrite between two attempts, so the worker never reads it for
    # what to show; it passes the objects it lends itself (`extra_ro`).
    checkout_git: bool = False


NO_SANDBOX = Sandbox()


@dataclass(frozen=True)
class Mount:
    """One layer over the read-only root: `hide` covers a path (an empty tmpfs for a directory,
    an empty file for a file); `ro`/`rw` show the host's path at the same place."""

    kind: Literal["hide", "ro", "rw"]
    path: Path


@dataclass(frozen=True)
class SandboxSpec:
    """One attempt's sandbox; `argv()` is a pure function of it. Layers apply in order over the
    read-only root: `first` (the users' homes, shared temp dirs), the private /tmp and HOME,
    `then` (the profile's paths, the worker's places covered again, git dirs), and last the
    checkout. `home`/`tmp` are the host dirs of the private HOME and TMPDIR (None while only
    planned, in preflight)."""

    bwrap: str
    cwd: Path
    home_at: Path  # where the private HOME appears inside
    first: tuple[Mount, ...]
    then: tuple[Mount, ...]
    network: Network = "host"
    home: Path | None = None
    tmp: Path | None = None

    def argv(self, command: Sequence[str], *, info_fd: int | None = None) -> tuple[str, ...]:
        assert self.home is not None and self.tmp is not None, "attempt dirs not made"
        out = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        out += _mount_args(self.first)
        # /tmp first: a HOME under /tmp (a test's) must not be covered by it.
        out += ["--bind", str(self.tmp), str(INSIDE_TMP),
                "--bind", str(self.home), str(self.home_at)]
        out += _mount_args(self.then)
        out += ["--bind", str(self.cwd), str(self.cwd), "--chdir", str(self.cwd),
                "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session",
                *_as_user(), "--cap-drop", "ALL"]
        if self.network == "none":
            out.append("--unshare-net")
        if info_fd is not None:
            out += ["--info-fd", str(info_fd)]
        return (*out, "--", *command)

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        return {**env, "HOME": str(self.home_at), "TMPDIR": str(INSIDE_TMP)}

    def inside_tmp(self, host_path: Path) -> Path:
        """Where a file of the private TMPDIR appears to the agent."""
        assert self.tmp is not None
        return INSIDE_TMP / host_path.relative_to(self.tmp)

    def visible(self, path: Path) -> bool:
        """Whether the host's `path` is the same file inside: the last layer over it decides."""
        private = (Mount("hide", INSIDE_TMP), Mount("hide", self.home_at))
        return _visible(_real(path), (*self.first, *private, *self.then, Mount("rw", self.cwd)))


# A worker running as root starts its agent as this uid/gid in a user namespace of its own (files
# it makes are still the worker's): root with its capabilities dropped cannot start a nested
# bubblewrap ("setting up uid map: Operation not permitted"), and Codex's own sandbox is one.
AGENT_UID = 1000


def _as_user() -> list[str]:
    if os.geteuid() != 0:
        return []  # bwrap already runs an unprivileged caller in a user namespace
    return ["--unshare-user", "--uid", str(AGENT_UID), "--gid", str(AGENT_UID)]


def _visible(path: Path, layers: Sequence[Mount]) -> bool:
    shown = True  # the read-only root
    for layer in layers:
        if _under(path, layer.path):
            shown = layer.kind != "hide"
    return shown


def _mount_args(layers: Sequence[Mount]) -> list[str]:
    out: list[str] = []
    for layer in layers:
        where = str(layer.path)
        if layer.kind == "hide":
            out += ["--tmpfs", where] if layer.path.is_dir() else ["--ro-bind", "/dev/null",
                                                                    where]
        else:  # -try: a declared path that does not exist (yet) is skipped, not fatal
            out += ["--bind-try" if layer.kind == "rw" else "--ro-bind-try", where, where]
    return out


def plan(sandbox: Sandbox, *, cwd: Path, paths: Sequence[SandboxPath] = (),
         network: Network = "host", extra_ro: Sequence[Path] = (),
         environ: Mapping[str, str] | None = None) -> SandboxSpec:
    """The sandbox of one attempt in `cwd` (no dirs made yet). `paths` are the profile's,
    `extra_ro` the caller's (e.g. an objects directory the checkout borrows from). The worker's
    places are covered after the profile's paths, so no declared path can show them."""
    assert sandbox.mode == "bwrap" and sandbox.bwrap is not None
    env = os.environ if environ is None else environ
    cwd = _real(cwd)
    home_at = _home_inside(env.get("HOME"))
    first = tuple(Mount("hide", p) for p in (*ALWAYS_HIDDEN, *_system_secrets()) if p.exists())
    layers = [*first, Mount("hide", INSIDE_TMP), Mount("hide", home_at)]
    covered = [_real(p) for p in (*ALWAYS_HIDDEN, *_system_secrets(), *sandbox.hide)]
    covered += [INSIDE_TMP, home_at]

    def shows_no_cover(path: Path) -> bool:
        """A bind over `/`, `/etc` or any other folder holding a covered place would show that
        place again (binds come after the covers): such a bind is never made."""
        return not any(_under(place, path) for place in covered)

    then = [Mount("rw" if p.writable else "ro", _real(p.path)) for p in paths
            if shows_no_cover(_real(p.path))]
    layers += then
    for path in sorted({_real(p) for p in sandbox.hide}, key=lambda p: len(p.parts)):
        if path.exists() and _visible(path, layers):  # else already covered: nothing to do
            then.append(Mount("hide", path))
            layers.append(then[-1])
    then += [Mount("ro", _real(p)) for p in extra_ro if shows_no_cover(_real(p))]
    if sandbox.checkout_git:
        # What the checkout's own files name is the agent's to write: it never shows a place
        # of the worker's, nor a folder holding a covered place.
        worker = [_real(p) for p in sandbox.hide]
        then += [Mount("rw" if b.writable else "ro", b.path) for b in git_dirs(cwd)
                 if shows_no_cover(b.path) and not any(_under(b.path, w) for w in worker)]
    return SandboxSpec(bwrap=sandbox.bwrap, cwd=cwd, home_at=home_at, first=first,
                       then=tuple(dict.fromkeys(then)), network=network)


def plan_checked(sandbox: Sandbox, *, cwd: Path, paths: Sequence[SandboxPath], network: Network,
                 extra_ro: Sequence[Path], environ: Mapping[str, str], binary: str,
                 agent: str, env: Mapping[str, str]) -> SandboxSpec:
    """`plan`, refusing (PreflightError binary_missing) an agent binary, or the interpreter its
    `#!` line names, that the sandbox hides."""
    box = plan(sandbox, cwd=cwd, paths=paths, network=network, extra_ro=extra_ro,
               environ=environ)
    problem = hidden_program(box, binary, env)
    if problem is not None:
        raise PreflightError("binary_missing", f"{problem}: add its directory to agent "
                             f"{agent!r}'s sandbox_paths")
    return box


def hidden_program(box: SandboxSpec, binary: str, env: Mapping[str, str]) -> str | None:
    """Why the agent's program cannot start inside `box` (it, or its `#!` interpreter, looked up
    on the agent's PATH for `env`, is hidden), or None."""
    real = _real(Path(binary))
    if not box.visible(real):
        return f"{binary!r} ({real}) is hidden by the sandbox"
    interpreter = _interpreter(real)
    if interpreter is None:
        return None
    words = interpreter.split()
    if os.path.basename(words[0]) == "env" and len(words) > 1:
        name = words[1]
        # `env` searches the PATH inside: the first visible match is what runs there.
        for folder in (env.get("PATH") or "/bin:/usr/bin").split(os.pathsep):  # glibc's default
            candidate = Path(folder or ".") / name
            if os.access(candidate, os.X_OK) and box.visible(candidate):
                return None
        return f"{binary!r} runs {name!r} (its #! line), found on no PATH folder the sandbox shows"
    if not box.visible(Path(interpreter)):
        return f"{binary!r} runs {interpreter} (its #! line), which the sandbox hides"
    return None


def _interpreter(program: Path) -> str | None:
    """The `#!` line's program (and, for `env`, the name it looks up), or None."""
    try:
        with program.open("rb") as fh:
            first = fh.readline(256)
    except OSError:
        return None
    words = first[2:].decode("utf-8", "replace").split() if first.startswith(b"#!") else []
    if not words:
        return None
    if os.path.basename(words[0]) == "env":
        name = next((w for w in words[1:] if not w.startswith("-")), None)
        return f"{words[0]} {name}" if name else words[0]
    return words[0]


def worker_hides(*places: Path | None) -> tuple[Path, ...]:
    """What to cover for the worker's own places: each path, and for a file (config, log, key)
    also its directory when that is a dedicated one (`/etc/mtor-git`, not `/etc`), so its
    neighbours (the env file, rotated logs) go with it."""
    out: list[Path] = []
    for place in places:
        if place is None:
            continue
        path = _real(place)
        out.append(path)
        if not path.is_dir() and path.parent not in _SYSTEM and len(path.parent.parts) >= 3:
            out.append(path.parent)
    return tuple(dict.fromkeys(out))


def git_dirs(cwd: Path) -> list[SandboxPath]:
    """The git directories a checkout at `cwd` needs beyond itself: a linked worktree's own and
    common dirs (read-write: the agent commits), and every alternates objects dir (read-only)."""
    dot = cwd / ".git"
    binds: list[SandboxPath] = []
    objects = dot / "objects"
    if dot.is_file():
        try:
            text = dot.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return binds
        if not text.startswith("gitdir:"):
            return binds
        gitdir = _real(cwd / text.split(":", 1)[1].strip())
        common = gitdir
        try:
            common = _real(gitdir / (gitdir / "commondir").read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError):
            pass
        binds += [SandboxPath(gitdir, writable=True), SandboxPath(common, writable=True)]
        objects = common / "objects"
    binds += [SandboxPath(p) for p in _alternates(objects)]
    return binds


def _alternates(objects: Path, depth: int = 0) -> list[Path]:
    try:
        lines = (objects / "info" / "alternates").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    found: list[Path] = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            path = _real(objects / line)
            found.append(path)
            if depth < 4:  # git follows chains of alternates up to five deep
                found += _alternates(path, depth + 1)
    return found


@contextmanager
def attempt_dirs(spec: SandboxSpec, scratch: Path | None,
                 home: Path | None = None) -> Iterator[SandboxSpec]:
    """The private HOME and TMPDIR of one attempt, made under `scratch` (the system temp dir
    without one) and removed, whatever the agent left in them, once the attempt is over. With
    `home` (the task's own, kept across its attempts) only the TMPDIR is the attempt's."""
    base = scratch or Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="attempt-", dir=base))
    try:
        if home is None:
            home = root / "home"
            home.mkdir(mode=0o700)
        else:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / "tmp").mkdir(mode=0o700)
        yield replace(spec, home=home, tmp=root / "tmp")
    finally:
        shutil.rmtree(root, onerror=_force_remove)


def remove_dir(path: Path) -> None:
    """Remove a private dir an agent wrote in (it may have left read-only folders)."""
    shutil.rmtree(path, onerror=_force_remove)


def sweep(scratch: Path | None) -> int:
    """Remove the private dirs that attempts of an earlier daemon, killed before it could clean
    up, left under `scratch` (call it while no attempt runs); how many there were."""
    if scratch is None or not scratch.is_dir():
        return 0
    left = [p for p in scratch.iterdir()
            if p.name.startswith(("attempt-", "home-")) and p.is_dir()]
    for path in left:
        shutil.rmtree(path, onerror=_force_remove)
    return len(left)


def _force_remove(func: object, path: str, exc: object) -> None:
    """An agent may leave read-only dirs behind: make them writable and try once more."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def find_bwrap(environ: Mapping[str, str] | None = None) -> str | None:
    """bwrap's absolute path on the daemon's PATH (or the usual places), or None."""
    env = os.environ if environ is None else environ
    found = shutil.which("bwrap", path=env.get("PATH") or os.defpath)
    return os.path.abspath(found) if found else None


def home_inside(environ: Mapping[str, str]) -> Path:
    """Where the private HOME appears inside the sandbox for a daemon with `environ`."""
    return _home_inside(environ.get("HOME"))


def _home_inside(home: str | None) -> Path:
    """The private HOME appears at the daemon's own HOME path, so that paths under it (a
    declared `~/.claude`) keep their names; a HOME of `/` or inside the system gets a neutral
    place instead."""
    if home and os.path.isabs(home):
        path = _real(Path(home))
        if path not in _SYSTEM - {Path("/home"), Path("/root")} and not any(
                _under(path, s) for s in _SYSTEM_TREES):
            return path
    return Path("/home/agent")


def _system_secrets() -> list[Path]:
    found: list[Path] = []
    for pattern in SYSTEM_SECRETS:
        path = Path(pattern)
        found += sorted(path.parent.glob(path.name)) if "*" in pattern else [path]
    return found


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


_ROOTED = re.compile(r"/(?!/)")  # absolute, and not POSIX's implementation-defined `//` root


def _under(path: Path, parent: Path) -> bool:
    """`path` is `parent` or below it, by their names (as Path.parents has it)."""
    below, above = str(path), str(parent)
    if below == above:
        return True
    if _ROOTED.match(below) and _ROOTED.match(above):  # a string prefix, no Path objects
        return below.startswith(above if above.endswith("/") else above + "/")
    return parent in path.parents
