"""The diff scan finds a secret in every disguise an agent can give it (plain, reversed, hex,
base64 and base64url at any byte alignment with or without padding, percent-encoded, split over
lines) embedded in any text, and flags nothing in text that holds none of them; the redactor
removes the same encoded forms from output."""

from __future__ import annotations

import base64
import string
from collections.abc import Callable
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from mtor_git.agent.redact import MIN_SECRET_LEN, Redactor
from mtor_git.agent.secretforms import forms_of
from mtor_git.agent.secretscan import SecretScanner, leak_failure

SECRET_CHARS = string.ascii_letters + string.digits + "-_.~+/=:@!$^*"
secrets = st.text(SECRET_CHARS, min_size=MIN_SECRET_LEN, max_size=64)
any_text = st.text(max_size=200)
junk = st.binary(max_size=20)


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def b64url_unpadded(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def split_every(data: bytes, width: int, sep: bytes) -> bytes:
    return sep.join(data[i:i + width] for i in range(0, len(data), width))


# Each disguise takes the secret's bytes and random bytes to bury it in.
DISGUISES: dict[str, Callable[[bytes, bytes, bytes], bytes]] = {
    "plain": lambda s, a, b: s,
    "reversed": lambda s, a, b: s[::-1],
    "hex": lambda s, a, b: (a + s + b).hex().encode(),
    "HEX": lambda s, a, b: (a + s + b).hex().upper().encode(),
    "base64 in a longer base64 text": lambda s, a, b: b64(a + s + b),
    "base64 without padding": lambda s, a, b: b64(a + s + b).rstrip(b"="),
    "base64url without padding": lambda s, a, b: b64url_unpadded(a + s + b),
    "url-encoded": lambda s, a, b: quote(s.decode(), safe="").encode(),
    "every byte percent-encoded": lambda s, a, b: "".join(f"%{c:02x}" for c in s).encode(),
    "split over lines": lambda s, a, b: split_every(s, 1 + len(a) % 5, b"\n  "),
    "line continuations": lambda s, a, b: split_every(s, 3, b"\\\n"),
    "string literals joined": lambda s, a, b: b'"' + split_every(s, 5, b'" "') + b'"',
    "string literals added": lambda s, a, b: b"'" + split_every(s, 4, b"' +\n    '") + b"'",
    "base64 wrapped at 76": lambda s, a, b: split_every(b64(a + s + b), 76, b"\n"),
    "base64 wrapped anywhere": lambda s, a, b: split_every(b64(a + s + b), 1 + len(b), b"\r\n"),
}


@given(secret=secrets, before=any_text, after=any_text, a=junk, b=junk,
       disguise=st.sampled_from(sorted(DISGUISES)))
def test_a_secret_is_found_in_every_disguise_inside_any_text(
        secret: str, before: str, after: str, a: bytes, b: bytes, disguise: str) -> None:
    hidden = DISGUISES[disguise](secret.encode(), a, b)
    data = before.encode() + hidden + after.encode()
    hits = SecretScanner({"DEPLOY_PAT": secret}).scan(data)
    assert [h.name for h in hits] == ["DEPLOY_PAT"], disguise


# Text from characters no secret below uses: hex forms never match it (no hex digit), plain and
# reversed forms need a character outside it, and a base64 run of x/y/z/+ decodes to bytes >= 0x80
# wherever the byte boundaries fall, which an ASCII secret has none of.
CLEAN_CHARS = "xyz \n\t.,\"'+"
clean_secrets = st.text(sorted(set(SECRET_CHARS) - set(CLEAN_CHARS)), min_size=MIN_SECRET_LEN,
                        max_size=64)


@given(secret=clean_secrets, text=st.text(CLEAN_CHARS, max_size=2000))
def test_text_without_the_secret_is_not_flagged(secret: str, text: str) -> None:
    assert SecretScanner({"TOKEN": secret}).scan(text.encode()) == []


@given(text=st.text(max_size=500))
def test_a_plain_configuration_value_is_no_secret_so_nothing_is_flagged(text: str) -> None:
    """With no secret (the profile's literal `AIDER_MODEL: gpt-4o` is none), nothing is ever
    flagged, whatever the agent writes."""
    assert SecretScanner({}).scan(f"Co-authored-by: aider (gpt-4o) {text}".encode()) == []


def test_values_shorter_than_the_minimum_are_not_looked_for() -> None:
    short = "a" * (MIN_SECRET_LEN - 1)
    assert SecretScanner({"TOKEN": short}).scan(f"{short} {short[::-1]}".encode()) == []
    assert SecretScanner({"TOKEN": "a" * MIN_SECRET_LEN}).scan(b"aaaaaa")


def test_the_failure_names_the_place_the_variable_and_the_encoding() -> None:
    secret = "s3cr3t-deploy-token"
    places = [("notes.txt", b"nothing here"),
              ("enc.txt", b"payload=" + base64.b64encode(b"xx" + secret.encode()))]
    failure = leak_failure(places, {"DEPLOY_PAT": secret})
    assert failure is not None and failure.kind == "secret_in_diff"
    assert "enc.txt holds the value of DEPLOY_PAT (base64)" in failure.message
    assert "notes.txt" not in failure.message
    assert leak_failure(places[:1], {"DEPLOY_PAT": secret}) is None


def test_a_file_name_holding_the_secret_is_redacted_in_the_failure() -> None:
    secret = "s3cr3t-deploy-token"
    failure = leak_failure([(f"the file name leak-{secret}.txt", b"leak-" + secret.encode())],
                           {"DEPLOY_PAT": secret})
    assert failure is not None
    assert secret not in failure.message and "[REDACTED:DEPLOY_PAT]" in failure.message


REDACTED_FORMS: dict[str, Callable[[str, str], str]] = {
    "plain": lambda s, pad: s,
    "base64": lambda s, pad: b64((pad + s).encode()).decode(),
    "base64url": lambda s, pad: b64url_unpadded((pad + s).encode()).decode(),
    "hex": lambda s, pad: s.encode().hex(),
    "url-encoded": lambda s, pad: quote(s, safe=""),
    "reversed": lambda s, pad: s[::-1],
}


@given(secret=secrets, pad=st.text("abc", max_size=2), before=any_text, after=any_text,
       form=st.sampled_from(sorted(REDACTED_FORMS)))
def test_the_redactor_removes_encoded_forms_from_output(
        secret: str, pad: str, before: str, after: str, form: str) -> None:
    shown = REDACTED_FORMS[form](secret, pad)
    out = Redactor({"TOKEN": secret}).text(f"{before}{shown}{after}")
    assert "[REDACTED:TOKEN]" in out
    for f in forms_of(secret):  # no recognisable piece of it is left
        assert f.data.decode() not in out.replace("[REDACTED:TOKEN]", "\0")
