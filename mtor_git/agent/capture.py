"""Bounded, redacted capture of one output stream: a byte count, the head and the tail, so a
chatty agent can neither exhaust memory nor leak a secret split between two reads."""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Callable

from mtor_git.agent.evidence import Captured
from mtor_git.agent.redact import Redactor

DEFAULT_LIMIT = 64 * 1024


class StreamCapture:
    """Feed raw bytes as they arrive; `result()` gives the Captured value.

    `limit` bounds the head and the tail each, in characters of redacted text (at most four
    bytes each), so memory stays O(limit) whatever the agent prints.
    """

    def __init__(self, redactor: Redactor, limit: int = DEFAULT_LIMIT,
                 on_data: Callable[[int, str], None] | None = None) -> None:
        self.limit = max(limit, 0)
        # Sees every piece as it is read: its byte count and its redacted text (live events).
        self._on_data = on_data
        self.total_bytes = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._redact = redactor.stream()
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self._dropped = 0
        self._closed = False

    def feed(self, data: bytes) -> None:
        self.total_bytes += len(data)
        self._emit(len(data), self._redact.feed(self._decoder.decode(data)))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._emit(0, self._redact.feed(self._decoder.decode(b"", final=True)))
            self._emit(0, self._redact.close())

    def _emit(self, nbytes: int, text: str) -> None:
        if self._on_data is not None:
            self._on_data(nbytes, text)
        self._append(text)

    def result(self) -> Captured:
        self.close()
        tail = "".join(self._tail)
        return Captured(total_bytes=self.total_bytes, head="".join(self._head), tail=tail,
                        truncated=self._dropped > 0)

    def _append(self, text: str) -> None:
        if not text:
            return
        room = self.limit - self._head_len
        if room > 0:
            self._head.append(text[:room])
            self._head_len += min(room, len(text))
            text = text[room:]
            if not text:
                return
        self._tail.append(text)
        self._tail_len += len(text)
        while self._tail_len > self.limit and self._tail:
            excess = self._tail_len - self.limit
            first = self._tail[0]
            if len(first) <= excess:
                self._tail.popleft()
                self._tail_len -= len(first)
                self._dropped += len(first)
            else:
                self._tail[0] = first[excess:]
                self._tail_len -= excess
                self._dropped += excess
