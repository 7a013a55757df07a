"""The attempt sandbox with real bubblewrap runs: what a child inside can read, write and see of
its parent, and that nothing of it outlives bwrap."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sandboxfixtures import TOOLCHAIN

from mtor_git.agent import sandbox as sandbox_module
from mtor_git.agent.sandbox import (
    Sandbox,
    SandboxPath,
    SandboxSpec,
    attempt_dirs,
    find_bwrap,
    plan,
    sweep,
    worker_hides,
)
from mtor_git.agent.sandbox_handle import Handle, decode_status

BWRAP = find_bwrap()
pytestmark = pytest.mark.skipif(BWRAP is None, reason="bubblewrap is not installed")
CANARY = "canary-7f3a9c1e55d04b2b"
# This interpreter may live under a hidden home (pyenv in /root): the profile declares it.
PYTHON = SandboxPath(Path(os.path.realpath(sys.base_prefix)))
# ... and this checkout with its venv, when it lies under a folder the sandbox hides (/tmp).
SHOWN = (PYTHON, *(SandboxPath(Path(p)) for p in TOOLCHAIN if Path(p) != PYTHON.path))

PROBE = r"""
import json, os, sys
out = {}
for name in sys.argv[1:]:
    try:
        with open(name, "rb") as fh:
            out[name] = "read:" + fh.read(64).decode("utf-8", "replace")
    except OSError as exc:
        out[name] = "error:" + type(exc).__name__
    try:
        out[name + "#ls"] = sorted(os.listdir(name))
    except OSError:
        pass
def writes(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        return True
    except OSError:
        return False
out["write_cwd"] = writes("in-checkout.txt")
out["write_home"] = writes(os.path.join(os.environ["HOME"], "home.txt"))
out["write_tmp"] = writes(os.path.join(os.environ["TMPDIR"], "tmp.txt"))
out["write_usr"] = writes("/usr/lib/mtor-probe")
environs = []
pid = os.getpid()
while pid > 0:
    try:
        environs.append(open(f"/proc/{pid}/environ", "rb").read().decode("utf-8", "replace"))
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        break
    pid = int(stat[1])
out["environs"] = environs
out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps(out))
"""


class Layout:
    """A worker's places on disk: workspace (clone, two checkouts), state, config dir with an env
    file, a home with an ssh key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.workspace = root / "ws"
        self.clone = self.workspace / "repo" / "clone"
        self.mine = self.workspace / "repo" / "checkouts" / "t1"
        self.other = self.workspace / "repo" / "checkouts" / "t2"
        self.state = root / "state"
        self.config = root / "etc" / "mtor-git" / "config.yaml"
        self.env_file = root / "etc" / "mtor-git" / "mtor-git.env"
        self.home = root / "home"
        self.key = self.home / ".ssh" / "id_ed25519"
        self.deploy_key = root / "keys" / "deploy" / "deploy_key"
        for path in (self.clone / "HEAD", self.mine / "README", self.other / "SECRET.txt",
                     self.state / "last-seen.json", self.config, self.env_file, self.key,
                     self.deploy_key):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{CANARY} {path.name}\n")
        self.scratch = root / "scratch"

    def sandbox(self) -> Sandbox:
        assert BWRAP is not None
        return Sandbox("bwrap", BWRAP, worker_hides(self.workspace, self.state, self.config,
                                                    self.deploy_key),
                       scratch=self.workspace / ".attempts")

    def spec(self, *, paths: tuple[SandboxPath, ...] = (), **kw: object) -> SandboxSpec:
        return plan(self.sandbox(), cwd=self.mine, environ={"HOME": str(self.home)},
                    paths=(*SHOWN, *paths), **kw)  # type: ignore[arg-type]


def run_in(spec: SandboxSpec, command: list[str], *, env: dict[str, str] | None = None,
           timeout: float = 30) -> subprocess.CompletedProcess[str]:
    with attempt_dirs(spec, None) as ready:
        base = {"PATH": os.environ["PATH"], "CANARY_ONLY_IN_DAEMON": "no"}
        return subprocess.run(list(ready.argv(command)), env=ready.env(env or base),
                              capture_output=True, text=True, timeout=timeout)


def probe(spec: SandboxSpec, *paths: Path) -> dict[str, object]:
    proc = run_in(spec, [sys.executable, "-c", PROBE, *map(str, paths)])
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path)


def test_the_agent_reads_and_writes_its_checkout(layout: Layout) -> None:
    seen = probe(layout.spec(), layout.mine / "README")
    assert seen[str(layout.mine / "README")] == f"read:{CANARY} README\n"
    assert seen["write_cwd"] is True
    assert (layout.mine / "in-checkout.txt").read_text() == "x"


@pytest.mark.parametrize("place", ["clone", "other", "state", "config", "env_file", "key",
                                   "deploy_key"])
def test_the_worker_places_are_hidden(layout: Layout, place: str) -> None:
    path: Path = getattr(layout, place)
    target = path / "HEAD" if place == "clone" else path / "SECRET.txt" if place == "other" \
        else path / "last-seen.json" if place == "state" else path
    seen = probe(layout.spec(), target, target.parent)
    assert seen[str(target)] == "error:FileNotFoundError" or seen[str(target)] == "read:"
    assert CANARY not in json.dumps(seen)


def test_nothing_outside_the_checkout_home_and_tmp_is_writable(layout: Layout) -> None:
    seen = probe(layout.spec())
    assert seen["write_home"] is True and seen["write_tmp"] is True
    assert seen["write_usr"] is False
    assert not Path("/usr/lib/mtor-probe").exists()


def test_private_home_and_tmp_are_removed_after_the_attempt(layout: Layout) -> None:
    with attempt_dirs(layout.spec(), layout.scratch) as ready:
        assert ready.home is not None and ready.home.is_dir()
        (ready.home / "left.txt").write_text("x")
        (ready.home / "ro").mkdir()
        (ready.home / "ro" / "f").write_text("x")
        os.chmod(ready.home / "ro", 0o500)
    assert list(layout.scratch.iterdir()) == []


def test_no_ancestor_environment_holds_the_daemons_variables(layout: Layout) -> None:
    os.environ["MTOR_SANDBOX_TEST_CANARY"] = CANARY  # in this process (the "daemon") only
    try:
        seen = probe(layout.spec())
    finally:
        del os.environ["MTOR_SANDBOX_TEST_CANARY"]
    environs = seen["environs"]
    assert isinstance(environs, list) and len(environs) >= 2  # itself and bwrap's init
    assert all(CANARY not in env for env in environs)
    assert seen["pids"] == [1, 2]  # bwrap's init and the probe: no process of the host


def test_a_declared_path_is_read_only_unless_marked_rw(layout: Layout) -> None:
    ro, rw = layout.root / "tools", layout.home / ".claude"
    ro.mkdir()
    rw.mkdir()
    spec = layout.spec(paths=(SandboxPath(ro), SandboxPath(rw, writable=True)))
    script = ("import os\n"
              "for d in os.environ['DIRS'].split(':'):\n"
              "    try:\n"
              "        open(os.path.join(d, 'w'), 'w').write('x'); print(d, 'rw')\n"
              "    except OSError: print(d, 'ro')\n")
    env = {"PATH": os.environ["PATH"], "DIRS": f"{ro}:{rw}"}
    proc = run_in(spec, [sys.executable, "-c", script], env=env)
    assert proc.stdout.split("\n")[:2] == [f"{ro} ro", f"{rw} rw"]
    assert (rw / "w").exists() and not (ro / "w").exists()


def test_alternates_objects_of_a_checkout_are_readable_not_writable(layout: Layout) -> None:
    objects = layout.clone / "objects"
    (objects / "pack").mkdir(parents=True)
    (objects / "pack" / "p.idx").write_text("pack")
    info = layout.mine / ".git" / "objects" / "info"
    info.mkdir(parents=True)
    (info / "alternates").write_text(f"{objects}\n")
    # The worker lends them (extra_ro): the alternates file alone, the agent's to write, shows
    # nothing of the worker's places (tests/agent/test_sandbox_checkout.py).
    spec = layout.spec(extra_ro=(objects,))
    seen = probe(spec, objects / "pack" / "p.idx", layout.clone / "HEAD")
    assert seen[str(objects / "pack" / "p.idx")] == "read:pack"
    assert seen[str(layout.clone / "HEAD")] == "error:FileNotFoundError"
    proc = run_in(spec, ["touch", str(objects / "pack" / "new")])
    assert proc.returncode != 0 and not (objects / "pack" / "new").exists()


def test_a_double_forked_setsid_child_dies_with_the_attempt(layout: Layout) -> None:
    marker = layout.mine / "late.txt"
    script = ("import os, time\n"
              "if os.fork() == 0:\n"
              "    os.setsid()\n"
              "    if os.fork() == 0:\n"
              "        for i in range(200):\n"
              "            open('late.txt', 'a').write(f'{i}\\n'); time.sleep(0.05)\n"
              "    os._exit(0)\n"
              "time.sleep(0.3)\n")
    proc = run_in(layout.spec(), [sys.executable, "-c", script])
    assert proc.returncode == 0
    size = marker.stat().st_size
    time.sleep(0.5)
    assert marker.stat().st_size == size  # nobody writes any more


def test_exit_codes_pass_through_and_a_signal_is_decoded(layout: Layout) -> None:
    assert run_in(layout.spec(), ["sh", "-c", "exit 7"]).returncode == 7
    killed = run_in(layout.spec(), ["sh", "-c", "kill -KILL $$"]).returncode
    assert decode_status(killed) == (None, signal.SIGKILL)
    assert decode_status(7) == (7, None)
    assert decode_status(-15) == (None, 15)


def test_network_none_reaches_no_host_listener(layout: Layout) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    script = ("import socket, sys\n"
              f"try: socket.create_connection(('127.0.0.1', {port}), timeout=2); print('up')\n"
              "except OSError: print('down')\n")
    try:
        assert run_in(layout.spec(), [sys.executable, "-c", script]).stdout.strip() == "up"
        spec = layout.spec(network="none")
        assert run_in(spec, [sys.executable, "-c", script]).stdout.strip() == "down"
    finally:
        server.close()


def test_handle_gives_the_agent_sigterm_then_kills_the_namespace(layout: Layout) -> None:
    script = ("import os, signal, sys, time\n"
              "def bye(*_):\n"
              "    open('got-term', 'w').write('1'); sys.exit(5)\n"
              "signal.signal(signal.SIGTERM, bye)\n"
              "if os.fork() == 0:\n"
              "    os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)\n"
              "print('ready', flush=True); time.sleep(60)\n")
    with attempt_dirs(layout.spec(), None) as ready:
        read, write = os.pipe()
        proc = subprocess.Popen(list(ready.argv([sys.executable, "-c", script], info_fd=write)),
                                pass_fds=(write,), stdout=subprocess.PIPE, start_new_session=True,
                                env=ready.env({"PATH": os.environ["PATH"]}))
        os.close(write)
        handle = Handle(read)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        assert handle.init_pid() is not None and handle.alive()
        assert handle.terminate()
        assert proc.wait(timeout=10) == 5
        assert (layout.mine / "got-term").exists()
        deadline = time.monotonic() + 5
        while handle.alive() and time.monotonic() < deadline:  # the setsid child ignored TERM
            time.sleep(0.02)
        assert not handle.alive()
        assert not handle.kill()  # gone: nothing is signalled
        handle.close()
        proc.stdout.close()


def test_hides_for_a_file_take_a_dedicated_directory_not_a_system_one(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "mtor-git" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("x")
    assert worker_hides(config) == (config, config.parent)
    assert worker_hides(Path("/etc/hostname")) == (Path("/etc/hostname"),)


def test_visible_says_which_host_paths_the_agent_sees(layout: Layout) -> None:
    spec = layout.spec(paths=(SandboxPath(layout.home / ".claude"),))
    assert spec.visible(layout.mine / "README")
    assert spec.visible(Path(shutil.which("sh") or "/bin/sh"))
    assert not spec.visible(layout.other / "SECRET.txt")
    assert not spec.visible(layout.key)
    assert spec.visible(layout.home / ".claude" / "settings.json")


def test_sweep_removes_what_killed_attempts_left(layout: Layout) -> None:
    scratch = layout.scratch
    (scratch / "attempt-old" / "home" / ".cache").mkdir(parents=True)
    (scratch / "attempt-old" / "tmp").mkdir()
    (scratch / "keep-me").mkdir()
    assert sweep(scratch) == 1
    assert [p.name for p in scratch.iterdir()] == ["keep-me"]
    assert sweep(None) == 0


def test_the_systems_own_secrets_are_covered(layout: Layout) -> None:
    present = [p for p in (Path("/etc/shadow"), *Path("/etc/ssh").glob("ssh_host_*_key"))
               if p.exists()]
    if not present:
        pytest.skip("no /etc/shadow or ssh host key on this machine")
    seen = probe(layout.spec(), *present)
    assert all(seen[str(p)] in ("read:", "error:PermissionError") for p in present), seen
    assert all(not layout.spec().visible(p) for p in present)


_NAME = st.sampled_from(["", "/", "//", "a", "ab", "b", "..", ".", " ", "\n"])


@given(path=st.lists(_NAME, max_size=6).map("/".join),
       parent=st.lists(_NAME, max_size=4).map("/".join))
def test_under_is_the_parents_relation_of_paths(path: str, parent: str) -> None:
    """sandbox._under compares names as strings (preflight asks it thousands of times); it must
    say what Path.parents says, for relative, absolute and `//` paths alike."""
    p, q = Path(path), Path(parent)
    assert sandbox_module._under(p, q) == (p == q or q in p.parents)
