"""Who may dispatch: with `require_signed: true`, a spec runs only when the commit that added it
carries an SSH signature from a key in the allowed-signers file (the format `git verify-commit`
uses with gpg.format=ssh). Verification is `ssh-keygen -Y`, as git itself does it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pygit2

SSH_SIG_HEADER = b"-----BEGIN SSH SIGNATURE-----"
NAMESPACE = "git"


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    reason: str
    principal: str | None = None


def verify_commit(repo: pygit2.Repository, commit_id: str, allowed_signers: Path,
                  *, timeout: float = 10.0) -> SignatureCheck:
    """Is commit `commit_id` signed by a key listed in `allowed_signers`? Fails closed."""
    try:
        signature, payload = repo[commit_id].peel(pygit2.Commit).gpg_signature
    except (KeyError, ValueError, pygit2.GitError):
        signature, payload = None, None
    if not signature or payload is None:
        return SignatureCheck(False, f"commit {commit_id[:12]} is not signed")
    if not signature.lstrip().startswith(SSH_SIG_HEADER):
        return SignatureCheck(False, f"commit {commit_id[:12]} has a non-SSH signature; "
                              "only SSH signatures (gpg.format=ssh) are accepted")
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        return SignatureCheck(False, "ssh-keygen is not installed, so no signature can be "
                              "verified (install openssh-client)")
    if not allowed_signers.is_file():
        return SignatureCheck(False, f"allowed-signers file {allowed_signers} does not exist")
    with tempfile.TemporaryDirectory(prefix="mtor-sig-") as scratch:
        sig_file = Path(scratch) / "commit.sig"
        sig_file.write_bytes(signature)
        found = _keygen([keygen, "-Y", "find-principals", "-s", str(sig_file),
                         "-f", str(allowed_signers)], None, timeout)
        if found.returncode != 0 or not found.stdout.strip():
            return SignatureCheck(False, f"commit {commit_id[:12]} is signed by a key that is "
                                  f"not in {allowed_signers}")
        principal = found.stdout.decode(errors="replace").split()[0]
        verified = _keygen([keygen, "-Y", "verify", "-f", str(allowed_signers), "-I", principal,
                            "-n", NAMESPACE, "-s", str(sig_file)], payload, timeout)
    if verified.returncode != 0:
        detail = verified.stderr.decode(errors="replace").strip()[:200]
        return SignatureCheck(False, f"signature of commit {commit_id[:12]} does not verify: "
                              f"{detail}")
    return SignatureCheck(True, f"signed by {principal}", principal)


def _keygen(argv: list[str], stdin: bytes | None,
            timeout: float) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C"}
    try:
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=env,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 255, b"", str(exc).encode())
