"""The shapes a secret value takes when an agent disguises it: reversed, hex, base64 (standard and
url-safe, at each of the three byte alignments, so a secret inside a longer base64 text is still
seen), percent-encoded. Pure: a value in, its forms out."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import quote

# Shorter values ("1", "true", "json") would shred ordinary text while protecting nothing; at 6
# bytes the shortest base64 fragment (alignment 1) is still 6 characters long.
MIN_SECRET_LEN = 6


@dataclass(frozen=True)
class Form:
    """One way a value can appear: `encoding` names it in a report, `data` is what to look for."""

    encoding: str
    data: bytes


def base64_fragments(raw: bytes) -> tuple[bytes, ...]:
    """For each alignment k (k bytes of anything before `raw` in the encoded input), the base64
    characters that depend on `raw` alone: what any base64 text holding `raw` must contain,
    padding or not, whatever bytes surround it."""
    out: list[bytes] = []
    n = len(raw)
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw + b"\0\0")
        first = -(-8 * k // 6)  # the first 6-bit group starting at or after raw's first bit
        last = (8 * (k + n)) // 6  # groups ending at or before raw's last bit
        if last - first > 0:
            out.append(encoded[first:last])
    return tuple(out)


def forms_of(value: str) -> tuple[Form, ...]:
    """Every disguise of `value` worth looking for, without duplicates, the value itself first."""
    raw = value.encode()
    found: dict[bytes, str] = {raw: "plain"}

    def add(encoding: str, data: bytes) -> None:
        if data:
            found.setdefault(data, encoding)

    add("reversed", value[::-1].encode())
    add("hex", binascii.hexlify(raw))
    add("hex", binascii.hexlify(raw).upper())
    for fragment in base64_fragments(raw):
        add("base64", fragment)
        add("base64url", fragment.replace(b"+", b"-").replace(b"/", b"_"))
    add("url-encoded", quote(value, safe="").encode())
    add("url-encoded", "".join(f"%{b:02X}" for b in raw).encode())
    return tuple(Form(encoding, data) for data, encoding in found.items())
