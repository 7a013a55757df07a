"""Find secret values in what an agent wants pushed, in every form `secretforms` knows, also when
the text is split over lines (whitespace and backslash-newline removed) or percent-encoded.

Cost: one `bytes.find` per form and view of the text; views are built once per text (a 10 MB diff
with 20 secrets: bench/secret_scan.py prints the figure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from mtor_git.agent.evidence import Failure
from mtor_git.agent.redact import Redactor
from mtor_git.agent.secretforms import MIN_SECRET_LEN, Form, forms_of

# A value broken over lines: whitespace runs, shell/C line continuations and the seams of string
# literals joined in code ("abc" "def", 'abc' +\n 'def') are dropped before looking again
# (secrets hold no whitespace in practice; those that do are looked for as they are).
_SPLIT = re.compile(rb"(?:\\\r?\n|\s|[\"']\s*\+?\s*[\"'])+")


@dataclass(frozen=True)
class Hit:
    """The secret `name` appears in the text as `encoding` ("base64, split over lines" …)."""

    name: str
    encoding: str


class SecretScanner:
    """Built once from name -> value; `scan(data)` lists the secrets `data` holds, in any form."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._forms: list[tuple[str, Form]] = [
            (name, form) for name, value in secrets.items() if len(value) >= MIN_SECRET_LEN
            for form in forms_of(value)]

    def __bool__(self) -> bool:
        return bool(self._forms)

    def scan(self, data: bytes) -> list[Hit]:
        if not self._forms or not data:
            return []
        joined = _SPLIT.sub(b"", data)
        decoded = _SPLIT.sub(b"", unquote_to_bytes(data)) if b"%" in data else b""
        hits: dict[str, str] = {}
        for name, form in self._forms:
            if name in hits:
                continue
            where = _where(form, data, joined, decoded)
            if where is not None:
                hits[name] = where
        return [Hit(name, encoding) for name, encoding in hits.items()]


def _where(form: Form, data: bytes, joined: bytes, decoded: bytes) -> str | None:
    """How `form` appears: as it is, only once lines are joined, or only once decoded."""
    if _SPLIT.search(form.data):  # a value holding whitespace: only its exact text counts
        return form.encoding if form.data in data else None
    if form.data in joined:
        return form.encoding if form.data in data else _and(form.encoding, "split over lines")
    if decoded and form.data in decoded:
        return _and(form.encoding, "url-encoded")
    return None


def _and(encoding: str, how: str) -> str:
    return how if encoding == "plain" else f"{encoding}, {how}"


def leak_failure(places: Iterable[tuple[str, bytes]],
                 secrets: Mapping[str, str]) -> Failure | None:
    """`secret_in_diff` when any (where, data) of `places` holds a secret, else None; the
    message names the place (redacted: a file name may hold the secret) and the encoding."""
    scanner = SecretScanner(secrets)
    found: dict[str, set[str]] = {}
    for where_, data in places:
        for hit in scanner.scan(data):
            shown = hit.name if hit.encoding == "plain" else f"{hit.name} ({hit.encoding})"
            found.setdefault(where_, set()).add(shown)
    if not found:
        return None
    redact = Redactor(secrets)
    where = "; ".join(f"{redact.text(path)} holds the value of {', '.join(sorted(v))}"
                      for path, v in sorted(found.items()))
    return Failure("secret_in_diff", f"the agent wrote a secret into the repository: "
                   f"{where}. Nothing of the agent's changes was pushed.",
                   rule="secret_value_in_changed_file")
