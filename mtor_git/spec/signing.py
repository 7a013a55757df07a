"""Who may dispatch: with `require_signed: true`, a spec runs only when the commit that added it
carries an SSH signature from a key in the allowed-signers file (the format `git verify-commit`
uses with gpg.format=ssh). Verification is `ssh-keygen -Y`, as git itself does it."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mtor_git import git, proc
from mtor_git.errors import CommandError

SSH_SIG_HEADER = b"-----BEGIN SSH SIGNATURE-----"
NAMESPACE = "git"


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    reason: str
    principal: str | None = None


def verify_commit(repo: git.Repository, commit_id: str, allowed_signers: Path,
                  *, timeout: float = 10.0) -> SignatureCheck:
    """Is commit `commit_id` signed by a key listed in `allowed_signers`? Fails closed."""
    signature, payload = git.commit_signature(repo, commit_id)
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
        if isinstance(found, str) or not found.stdout.strip():
            return SignatureCheck(False, f"commit {commit_id[:12]} is signed by a key that is "
                                  f"not in {allowed_signers}")
        principal = found.stdout.split()[0]
        verified = _keygen([keygen, "-Y", "verify", "-f", str(allowed_signers),
                                     "-I", principal, "-n", NAMESPACE, "-s", str(sig_file)],
                                    payload, timeout)
    if isinstance(verified, str):
        detail = verified[:200]
        return SignatureCheck(False, f"signature of commit {commit_id[:12]} does not verify: "
                              f"{detail}")
    return SignatureCheck(True, f"signed by {principal}", principal)


def _keygen(argv: list[str], stdin: bytes | None, timeout: float) -> proc.Output | str:
    """`ssh-keygen` in a clean environment: its output, or the reason it failed."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C"}
    try:
        return proc.run(argv, input=stdin, env=env, timeout=timeout)
    except CommandError as exc:
        return (exc.stderr or exc.stdout or str(exc)).strip()
