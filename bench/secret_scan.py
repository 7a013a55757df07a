"""Figures for the secret scan and the redactor:

  scan 10 MB        SecretScanner.scan over a 10 MB diff (prose, code and base64) with 20 secrets,
                    none in it (the common case: every form searched in full), and with one hidden
                    base64-encoded and split over lines at the end
  percent-heavy     the same 10 MB with '%' in it (the percent-decoded view is searched too)
  redact 10 MB      Redactor.text over 10 MB of agent output, 20 (and 2) secrets in every form
  false positives   20 random secrets, 200 of the minimum length, 20 word-like values (gpt-4o-mini,
                    production ...) scanned against every text file of this repository: what the
                    disguises (encodings, joined lines) flag beyond the plain value

    /work/main/.venv/bin/python bench/secret_scan.py

Prints every figure; asserts nothing (timings belong here, not in tests).
"""

from __future__ import annotations

import base64
import random
import string
import time
from collections.abc import Callable
from pathlib import Path

from mtor_git.agent.redact import MIN_SECRET_LEN, Redactor
from mtor_git.agent.secretscan import SecretScanner

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20
WORDLIKE = ["gpt-4o-mini", "production", "claude-sonnet-4", "staging", "us-east-1", "default",
            "origin", "worker-1", "mtor-git", "python3", "release", "/usr/bin", "localhost",
            "anthropic", "deploy", "feature", "session", "readme", "config", "example"]


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def random_secrets(rng: random.Random, n: int) -> dict[str, str]:
    chars = string.ascii_letters + string.digits
    return {f"SECRET_{i}": "".join(rng.choice(chars) for _ in range(rng.randint(12, 48)))
            for i in range(n)}


def diff_text(rng: random.Random, size: int) -> bytes:
    """Source code and prose from this repository, with base64 blobs, up to `size` bytes."""
    sources = [p.read_bytes() for p in sorted(ROOT.glob("mtor_git/**/*.py"))]
    parts, total = [], 0
    while total < size:
        piece = rng.choice(sources) if rng.random() < 0.8 else base64.encodebytes(
            rng.randbytes(4096))
        parts.append(piece)
        total += len(piece)
    return b"".join(parts)[:size]


def main() -> None:
    rng = random.Random(7)
    secrets = random_secrets(rng, 20)
    scanner = SecretScanner(secrets)
    data = diff_text(rng, 10 * MB).replace(b"%", b"")
    encoded = base64.b64encode(b"\x01" + secrets["SECRET_7"].encode() + b"\x02")
    hidden = b"\n".join(encoded[i:i + 16] for i in range(0, len(encoded), 16))
    leaky = data + b"\n" + hidden
    with_percent = data[:-2 * 1024] + b"%41" * 683
    print(f"scan 10 MB, 20 secrets, clean:        {timed(lambda: scanner.scan(data)):.3f} s "
          f"({len(scanner._forms)} forms)")
    hits = scanner.scan(leaky)
    print(f"scan 10 MB, one base64 split secret:  {timed(lambda: scanner.scan(leaky)):.3f} s "
          f"-> {[(h.name, h.encoding) for h in hits]}")
    print(f"scan 10 MB holding '%':               "
          f"{timed(lambda: scanner.scan(with_percent)):.3f} s")
    output = data.decode("utf-8", "replace")
    redactor = Redactor(secrets)
    print(f"redact 10 MB of output, 20 secrets:   {timed(lambda: redactor.text(output), 1):.3f} s")
    two = Redactor(dict(list(secrets.items())[:2]))
    print(f"redact 10 MB of output, 2 secrets:    {timed(lambda: two.text(output), 1):.3f} s")
    files = [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts
             and ".venv" not in p.parts and p.suffix in (".py", ".md", ".yaml", ".toml", ".json")]
    corpus = [p.read_bytes() for p in files]
    size = sum(map(len, corpus)) / MB
    shortest = {f"S{i}": "".join(rng.choice(string.ascii_letters + string.digits)
                                 for _ in range(MIN_SECRET_LEN)) for i in range(200)}
    for label, values in (("random secrets", secrets),
                          (f"200 random {MIN_SECRET_LEN}-character secrets", shortest),
                          ("word-like values", {f"V{i}": w for i, w in enumerate(WORDLIKE)})):
        scan = SecretScanner(values)
        flagged = [(str(p.relative_to(ROOT)), h.name, h.encoding)
                   for p, blob in zip(files, corpus, strict=True) for h in scan.scan(blob)]
        # A word-like value is found as it is wherever the word is used; what the encodings and
        # the joined lines add on top of that is the cost of looking for disguises.
        extra = [f for f in flagged if f[2] != "plain"]
        print(f"{label} over {len(files)} files ({size:.1f} MB): {len(flagged)} files x values "
              f"flagged, {len(extra)} of them only as a disguise")
        for where, name, encoding in extra[:8]:
            print(f"    {where}: {values[name]!r} as {encoding}")


if __name__ == "__main__":
    main()
