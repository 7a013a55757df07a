"""Text made safe for a terminal: control characters a hostile spec title or agent output could
carry (C0 but newline and tab, DEL, C1, bidirectional overrides) shown as escapes, so no
`ESC[2J`, OSC title sequence or `\\r` acts on the reader's terminal. JSON keeps exact strings."""

from __future__ import annotations

import re

_NAMED = {"\r": "\\r", "\b": "\\b", "\f": "\\f", "\v": "\\v", "\0": "\\0"}
# Characters that reorder or hide text (Trojan Source), and Unicode's own line separators.
_INVISIBLE = [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C,
              0x2028, 0x2029]


def _table(keep: str) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)):
        ch = chr(code)
        if ch not in keep:
            table[code] = _NAMED.get(ch, f"\\x{code:02x}")
    for code in _INVISIBLE:
        table[code] = f"\\u{code:04x}"
    return table


_LINES = _table("\n\t")  # multi-line text: its line structure stays
_ONE_LINE = _table("")  # a value inside one line: a newline in it is shown, not obeyed
_SGR = re.compile(r"\x1b\[[0-9;]*m")  # colour codes only


def printable(text: str, *, lines: bool = True) -> str:
    """`text` with every control character escaped (`\\x1b`, `\\r`, `\\x9b` ...); newlines and
    tabs kept when `lines`, escaped too otherwise."""
    return text.translate(_LINES if lines else _ONE_LINE)


def printable_coloured(text: str) -> str:
    """Like printable(), keeping SGR colour codes (ESC `[` digits `m`): for a log line our own
    logger coloured; any other escape sequence, the message's own included, is shown escaped."""
    out, pos = [], 0
    for match in _SGR.finditer(text):
        out.append(printable(text[pos:match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(printable(text[pos:]))
    return "".join(out)
