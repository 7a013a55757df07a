"""Real ssh and https git servers on loopback, started by the test itself and bounded in time.

- `SshServer`: OpenSSH's `sshd -D -e` on a free 127.0.0.1 port, its own host key, config and
  authorized_keys in the test's folder, a deploy key for the worker (`ssh_key:`).
- `HttpsServer`: nginx (TLS from a throw-away CA made with `openssl`, basic auth checked against
  a token) in front of `fcgiwrap` running `git http-backend`.

A server binary that is missing fails the test naming it (CI installs them): never a silent skip.
Plain helpers, usable from bench scripts too.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import pytest
from gitfixtures import GIT_ENV, free_port

_START_TIMEOUT = 15.0
HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")


def require(name: str) -> str:
    """The absolute path of server binary `name`, or the test FAILS naming it (and its
    Debian package): these tests must run in CI, where .ci/run installs them."""
    packages = {"sshd": "openssh-server", "nginx": "nginx", "fcgiwrap": "fcgiwrap",
                "openssl": "openssl", "ssh-keygen": "openssh-client",
                "git-http-backend": "git"}
    if name == "git-http-backend":
        exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        found: str | None = str(Path(exec_path) / name)
        if not os.access(str(found), os.X_OK):
            found = None
    else:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.fail(f"{name} is not installed (Debian package {packages.get(name, name)}); "
                    ".ci/run installs it", pytrace=False)
    return found


def run(*argv: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=60,
                          env=GIT_ENV)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def keypair(path: Path) -> Path:
    """A fresh ed25519 key without passphrase at `path` (+ `.pub`); the private key's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run(require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path))
    return path


@dataclass
class _Proc:
    """A server process in its own process group, with its stderr in a file."""

    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=cwd, stdout=out, stderr=out,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None


def _wait_listening(port: int, procs: list[_Proc], what: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{what} exited at start: {p.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port}")


# -- ssh -----------------------------------------------------------------------------------------
@dataclass
class SshServer:
    """sshd serving every repository on this host by its absolute path, to `user`."""

    root: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=getpass.getuser)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = keypair(self.root / "ssh_host_ed25519_key")
        self.deploy_key = keypair(self.root / "deploy_key")  # what the worker's ssh_key: names
        self.authorized_keys = self.root / "authorized_keys"
        self.authorized_keys.write_text((self.root / "deploy_key.pub").read_text())
        self.config = self.root / "sshd_config"
        self.log = self.root / "sshd.log"
        self._proc = _Proc([require("sshd"), "-f", str(self.config), "-D", "-e"], self.log)

    def url(self, repo: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{repo.resolve()}"

    def known_hosts_line(self, key: Path | None = None) -> str:
        """The known_hosts line pinning this server's host key (or `key`'s, to fake a change)."""
        pub = Path(f"{key or self.host_key}.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n"

    def start(self) -> None:
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.root / 'sshd.pid'}", f"AuthorizedKeysFile {self.authorized_keys}",
            "StrictModes no",  # the test's folders are not root-owned 0755 all the way up
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
            "PermitRootLogin prohibit-password", "MaxAuthTries 6", "LogLevel VERBOSE",
            "PrintMotd no", "",
        ]))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege-separation dir
        self._proc.start(self.root)
        _wait_listening(self.port, [self._proc], "sshd")

    def stop(self) -> None:
        self._proc.stop()

    def connections(self) -> int:
        """How many connections sshd accepted so far (its log's `Connection from` lines)."""
        return self.log.read_text(errors="replace").count("Connection from")


@contextlib.contextmanager
def ssh_server(root: Path) -> Iterator[SshServer]:
    server = SshServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- https ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tls:
    ca: Path  # what SSL_CERT_FILE points at
    cert: Path
    key: Path


def make_tls(root: Path, host: str = "127.0.0.1") -> Tls:
    """A throw-away CA and a server certificate for `host` signed by it."""
    openssl = require("openssl")
    root.mkdir(parents=True, exist_ok=True)
    run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=mtor-git test CA", cwd=root)
    run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", f"/CN={host}", cwd=root)
    (root / "san.ext").write_text(f"subjectAltName=IP:{host},DNS:localhost\n")
    run(openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=root)
    return Tls(root / "ca.pem", root / "server.pem", root / "server.key")


@dataclass
class HttpsServer:
    """nginx + fcgiwrap + git http-backend over `project_root`; basic auth `user`:`token`."""

    root: Path
    project_root: Path
    token: str
    user: str = "mtor-bot"
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tls = make_tls(self.root / "tls")
        self.access_log = self.root / "access.log"
        self.error_log = self.root / "error.log"
        self.socket = self.root / "fcgi.sock"
        self._fcgi = _Proc([require("fcgiwrap"), "-c", "2", "-s", f"unix:{self.socket}"],
                           self.root / "fcgiwrap.log")
        self._nginx = _Proc([require("nginx"), "-p", str(self.root), "-c",
                             str(self.root / "nginx.conf"), "-e", str(self.error_log)],
                            self.root / "nginx.out")

    def url(self, repo: Path) -> str:
        return f"https://127.0.0.1:{self.port}/{repo.resolve().relative_to(self.project_root)}"

    def start(self) -> None:
        backend = require("git-http-backend")
        hashed = run(require("openssl"), "passwd", "-5", self.token).strip()
        (self.root / "htpasswd").write_text(f"{self.user}:{hashed}\n")
        (self.root / "nginx.conf").write_text(_NGINX_CONF.format(
            root=self.root, port=self.port, tls=self.tls, socket=self.socket, backend=backend,
            project=self.project_root.resolve(),
            user="user root;" if os.geteuid() == 0 else ""))
        self._fcgi.start(self.root)
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.socket.exists():
            if not self._fcgi.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fcgiwrap did not start: {self._fcgi.log.read_text()}")
            time.sleep(0.05)
        self._nginx.start(self.root)
        _wait_listening(self.port, [self._nginx, self._fcgi], "nginx")

    def stop(self) -> None:
        self._nginx.stop()
        self._fcgi.stop()

    def statuses(self) -> list[int]:
        """The HTTP status of every request nginx answered so far, in order."""
        if not self.access_log.exists():
            return []
        return [int(line.rsplit(" ", 1)[-1]) for line in
                self.access_log.read_text(errors="replace").splitlines() if line.strip()]


# `user root;` when the tests run as root: workers must read the test's 0700 temp folders.
_NGINX_CONF = """daemon off;
{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
  log_format status '$request_method $uri $status';
  access_log {root}/access.log status;
  client_body_temp_path {root}/body;
  fastcgi_temp_path {root}/fastcgi;
  proxy_temp_path {root}/proxy;
  uwsgi_temp_path {root}/uwsgi;
  scgi_temp_path {root}/scgi;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {tls.cert};
    ssl_certificate_key {tls.key};
    location / {{
      auth_basic "git";
      auth_basic_user_file {root}/htpasswd;
      client_max_body_size 0;
      fastcgi_pass unix:{socket};
      fastcgi_param SCRIPT_FILENAME {backend};
      fastcgi_param GIT_PROJECT_ROOT {project};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param REMOTE_USER $remote_user;
      fastcgi_param PATH_INFO $uri;
      fastcgi_param QUERY_STRING $query_string;
      fastcgi_param REQUEST_METHOD $request_method;
      fastcgi_param CONTENT_TYPE $content_type;
      fastcgi_param CONTENT_LENGTH $content_length;
      fastcgi_param GIT_CONFIG_NOSYSTEM 1;
    }}
  }}
}}
"""


@contextlib.contextmanager
def https_server(root: Path, project_root: Path, token: str) -> Iterator[HttpsServer]:
    server = HttpsServer(root, project_root, token)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def trusting_ca(ca: Path) -> Iterator[None]:
    """libgit2 trusts the test's CA, then the process's trust store as it was (libgit2's
    settings are global)."""
    pygit2.settings.set_ssl_cert_locations(str(ca), None)
    try:
        yield
    finally:
        default = ssl.get_default_verify_paths()
        pygit2.settings.set_ssl_cert_locations(default.cafile, default.capath)
