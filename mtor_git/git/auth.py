"""Credentials for the network transports and the errors a refused identity raises: which
key or token libgit2 is offered, and how an authentication or host-key failure is reported."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import CredentialType

from mtor_git.errors import GitOpError, RemoteAuthError


@dataclass(frozen=True)
class Credentials:
    """How to authenticate; None fields are not offered. Local transports need none."""

    username: str | None = None  # ssh user when the URL names none; https user
    ssh_key: Path | None = None  # private key file; its public key is `<key>.pub` when present
    ssh_passphrase: str = ""
    password: str | None = None  # https password or token
    use_agent: bool = True  # offer ssh-agent keys when no key file is configured


_REGISTERED: dict[str, Credentials] = {}


def register_credentials(url: str, credentials: Credentials) -> None:
    """Use `credentials` for every transfer to `url` (the worker registers each configured
    repository's key file or token once at start, so no call site has to carry them)."""
    _REGISTERED[normalize_url(url)] = credentials


def registered_credentials(url: str) -> Credentials:
    return _REGISTERED.get(normalize_url(url)) or _REGISTERED.get(url) or Credentials()


def pick_credential(creds: Credentials, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> Any:
    """The credential object libgit2 asked for: a key file, the ssh agent, or user+password."""
    user = username_from_url or creds.username or "git"
    if allowed_types & CredentialType.SSH_KEY:
        if creds.ssh_key is not None:
            pub = Path(f"{creds.ssh_key}.pub")
            return pygit2.Keypair(user, str(pub) if pub.exists() else None, str(creds.ssh_key),
                                  creds.ssh_passphrase)
        if creds.use_agent:
            return pygit2.KeypairFromAgent(user)
    if allowed_types & CredentialType.USERPASS_PLAINTEXT and creds.password is not None:
        return pygit2.UserPass(username_from_url or creds.username or "", creds.password)
    if allowed_types & CredentialType.USERNAME:
        return pygit2.Username(user)
    raise GitOpError(f"no usable credentials configured for {url}")


def transport_error(exc: pygit2.GitError, what: str, url: str | None,
                    untrusted_host: str | None) -> GitOpError:
    """The GitOpError for a failed transfer; RemoteAuthError when retrying cannot help."""
    shown = shown_url(url)
    text = " ".join(str(exc).split())
    if untrusted_host is not None or isinstance(exc, pygit2.CertificateError):
        host = untrusted_host or shown
        if is_http(url):
            fix = ("the certificate is not trusted: install its CA in the system store, or "
                   "point SSL_CERT_FILE at a CA bundle holding it")
        else:
            fix = ("its ssh host key is unknown or has changed: after checking its fingerprint, "
                   "add it to ~/.ssh/known_hosts of the user the daemon runs as (ssh-keyscan)")
        return RemoteAuthError(f"cannot {what} {shown}: host {host} refused: {fix} ({text})")
    if isinstance(exc, pygit2.AuthError) or "authentication replays" in text:
        return RemoteAuthError(f"cannot {what} {shown}: authentication refused: check the ssh "
                               f"key or the token ({text})")
    return GitOpError(f"cannot {what} {shown}: {text}")


def shown_url(url: str | None) -> str:
    """`url` fit for a log line or a status file: a password or token in it is hidden
    (https://user:TOKEN@host/... -> https://user:***@host/...), so is a token given as the
    user name of an http(s) URL (https://ghp_TOKEN@host/, GitHub's form) and a query string
    (?access_token=...). An ssh user (git@host) is no secret and stays."""
    text = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url or "")
    text = re.sub(r"^(https?://)([^/@:]+)@", r"\1***@", text)
    return re.sub(r"\?.*$", "?***", text) if "://" in text else text


def normalize_url(url: str) -> str:
    """A URL as stored in `remote.origin.url`: local paths (file:// too, the same transport to
    libgit2) made absolute, no trailing slash; so one remote has one spelling."""
    text = url.rstrip("/")
    if text.startswith("file://"):
        return str(Path(text[len("file://"):]).resolve())
    if "://" in text or is_scp_like(text):
        return text
    return str(Path(text).expanduser().resolve())


def is_http(url: str | None) -> bool:
    """An http(s) remote: each request reaches a server process of its own."""
    return (url or "").startswith(("https://", "http://"))


def is_scp_like(url: str) -> bool:
    # git@host:path -- a colon before any slash, and not a Windows drive letter.
    head = url.split("/", 1)[0]
    return ":" in head and len(head.split(":", 1)[0]) > 1
