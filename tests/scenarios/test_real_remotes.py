"""The worker against real ssh and https servers on loopback: OpenSSH with a deploy key and a
pinned host key; nginx + git http-backend with TLS from a throw-away CA and a token.

Over each: clone, fetch, claim, result push and a poll that finds a new task without a poke, by
the real daemon. A refused key, token, host key or certificate stops the daemon at start (exit
78, one line naming the repository) after a bounded number of attempts, and doctor FAILs naming
it; the token never reaches a log, a result or the clone's config.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from daemonfixtures import DAEMON_ENV, Site, kill_group, mtor, site, spec, wait_for
from serverfixtures import HttpsServer, SshServer, https_server, keypair, ssh_server

pytestmark = pytest.mark.slow

TOKEN = "tok-3f9a1c77e2b54d0e"  # distinctive, so a leak anywhere is found by a plain search
TOKEN_VAR = "MTOR_TEST_GIT_TOKEN"


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Site]:
    with site(tmp_path) as s:
        yield s


def _home(root: Path, known_hosts: str = "") -> Path:
    """The daemon user's home: libgit2 checks ssh host keys against its ~/.ssh/known_hosts."""
    home = root / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "known_hosts").write_text(known_hosts)
    return home


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in DAEMON_ENV.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    return {**env, "HOME": str(home), **extra}


def _config(s: Site, name: str, repo: Mapping[str, Any], **kw: Any) -> Path:
    return s.config(name, extra={"repos": [dict(repo)]}, **kw)


def _once(s: Site, config: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mtor("daemon", "--once", "--config", str(config)), capture_output=True,
                          text=True, env=dict(env), timeout=120, cwd=s.root)


def _serve(s: Site, config: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    log = (config.parent / "stderr.log").open("ab")
    proc = subprocess.Popen(mtor("daemon", "--config", str(config)), env=dict(env), stdout=log,
                            stderr=log, cwd=s.root, start_new_session=True)
    log.close()
    s.procs.append(proc)
    return proc


def _full_cycle(s: Site, config: Path, env: Mapping[str, str]) -> None:
    """A task pushed before start (clone, claim, result push), then one pushed while the daemon
    runs, found by its own poll: nobody pokes it."""
    s.push_specs({"first": spec()})
    daemon = _serve(s, config, env)
    try:
        wait_for(lambda: s.results().get("first") == "succeeded", 60, "first's result")
        s.push_specs({"second": spec()})
        wait_for(lambda: s.results().get("second") == "succeeded", 60,
                 "second's result, found by a poll without a poke")
        wait_for(lambda: not s.claims(), 30, "the claims released")
    finally:
        assert kill_group(daemon) == 0, (config.parent / "stderr.log").read_text()[-3000:]


def _refused_at_start(proc: subprocess.CompletedProcess[str], name: str) -> str:
    assert proc.returncode == 78, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mtor-git:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert f"repository {name}" in lines[0]
    return lines[0]


def _doctor(config: Path, env: Mapping[str, str]) -> dict[str, Any]:
    proc = subprocess.run(mtor("doctor", "--config", str(config), "--json"), capture_output=True,
                          text=True, env=dict(env), timeout=120)
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


# -- ssh -----------------------------------------------------------------------------------------
@pytest.fixture
def sshd(place: Site) -> Iterator[SshServer]:
    with ssh_server(place.root / "sshd") as server:
        yield server


def _ssh_repo(sshd: SshServer, s: Site, key: Path | None = None) -> dict[str, Any]:
    return {"url": sshd.url(s.remote), "name": "tool", "ssh_key": str(key or sshd.deploy_key)}


def test_ssh_deploy_key_and_pinned_host_key_run_tasks(place: Site, sshd: SshServer) -> None:
    env = _env(_home(place.root, sshd.known_hosts_line()))
    config = _config(place, "w-ssh", _ssh_repo(sshd, place), poll_interval="1s")
    _full_cycle(place, config, env)
    clone = place.root / "workers" / "w-ssh" / "ws" / "tool" / "repo.git"
    assert sshd.url(place.remote) in (clone / "config").read_text()


def test_ssh_wrong_key_refuses_to_start_after_one_connection(place: Site,
                                                             sshd: SshServer) -> None:
    env = _env(_home(place.root, sshd.known_hosts_line()))
    stranger = keypair(place.root / "stranger_key")
    config = _config(place, "w-key", _ssh_repo(sshd, place, stranger))
    before = sshd.connections()
    line = _refused_at_start(_once(place, config, env), "tool")
    assert "authentication" in line
    assert sshd.connections() - before <= 2  # one probe: never a retry storm
    assert place.claims() == [] and place.results() == {}


@pytest.mark.parametrize("pinned", ["unknown", "changed"])
def test_ssh_untrusted_host_key_refuses_to_start(place: Site, sshd: SshServer,
                                                 pinned: str) -> None:
    other = keypair(place.root / "impostor_host_key")
    known = "" if pinned == "unknown" else sshd.known_hosts_line(other)
    env = _env(_home(place.root, known))
    config = _config(place, "w-host", _ssh_repo(sshd, place))
    line = _refused_at_start(_once(place, config, env), "tool")
    assert "known_hosts" in line
    assert place.claims() == [] and place.results() == {}


def test_doctor_fails_naming_the_repository_with_a_refused_ssh_key(place: Site,
                                                                    sshd: SshServer) -> None:
    env = _env(_home(place.root, sshd.known_hosts_line()))
    config = _config(place, "w-doc", _ssh_repo(sshd, place, keypair(place.root / "bad")))
    checks = {c["name"]: c for c in _doctor(config, env)["checks"]}
    assert checks["repo tool"]["status"] == "fail", checks["repo tool"]
    assert "authentication" in checks["repo tool"]["detail"]


# -- https ---------------------------------------------------------------------------------------
@pytest.fixture
def httpd(place: Site) -> Iterator[HttpsServer]:
    with https_server(place.root / "nginx", place.remote.parent, TOKEN) as server:
        yield server


def _https_repo(httpd: HttpsServer, s: Site) -> dict[str, Any]:
    return {"url": httpd.url(s.remote), "name": "tool", "username": httpd.user,
            "token_env": TOKEN_VAR}


def _no_token_under(root: Path) -> list[Path]:
    """Every file under `root` that holds the token (logs, results, clones, state)."""
    leaks = []
    for path in root.rglob("*"):
        if path.is_file() and TOKEN.encode() in path.read_bytes():
            leaks.append(path)
    return leaks


def test_https_token_and_private_ca_run_tasks_without_leaking(place: Site,
                                                              httpd: HttpsServer) -> None:
    env = _env(_home(place.root), SSL_CERT_FILE=str(httpd.tls.ca), **{TOKEN_VAR: TOKEN})
    config = _config(place, "w-https", _https_repo(httpd, place), poll_interval="1s")
    _full_cycle(place, config, env)
    worker = place.root / "workers" / "w-https"
    assert (worker / "daemon.log").stat().st_size > 0
    assert _no_token_under(worker) == []
    for task_id in ("first", "second"):
        assert TOKEN not in json.dumps(place.result(task_id))
    assert 401 in httpd.statuses() and 200 in httpd.statuses()  # the token was asked for


def test_https_wrong_token_refuses_to_start_after_few_requests(place: Site,
                                                               httpd: HttpsServer) -> None:
    wrong = "wrong-" + TOKEN[::-1]
    env = _env(_home(place.root), SSL_CERT_FILE=str(httpd.tls.ca), **{TOKEN_VAR: wrong})
    config = _config(place, "w-badtoken", _https_repo(httpd, place))
    proc = _once(place, config, env)
    line = _refused_at_start(proc, "tool")
    assert "authentication" in line
    assert wrong not in proc.stderr and wrong not in proc.stdout
    assert len(httpd.statuses()) <= 5, httpd.statuses()  # libgit2 alone would replay 15 times
    assert _no_token_under(place.root / "workers") == []


def test_https_untrusted_certificate_refuses_to_start(place: Site, httpd: HttpsServer) -> None:
    env = _env(_home(place.root), **{TOKEN_VAR: TOKEN})  # no SSL_CERT_FILE: the CA is unknown
    config = _config(place, "w-nocert", _https_repo(httpd, place))
    line = _refused_at_start(_once(place, config, env), "tool")
    assert "SSL_CERT_FILE" in line
    assert httpd.statuses() == []  # refused before a single request: the token never left


def test_doctor_fails_naming_the_repository_with_a_refused_token(place: Site,
                                                                 httpd: HttpsServer) -> None:
    env = _env(_home(place.root), SSL_CERT_FILE=str(httpd.tls.ca), **{TOKEN_VAR: "nope"})
    config = _config(place, "w-doc-https", _https_repo(httpd, place))
    checks = {c["name"]: c for c in _doctor(config, env)["checks"]}
    assert checks["repo tool"]["status"] == "fail", checks["repo tool"]
    assert "authentication" in checks["repo tool"]["detail"]
    assert "nope" not in json.dumps(checks)
