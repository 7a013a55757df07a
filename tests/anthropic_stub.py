"""A small Anthropic-compatible Messages API on 127.0.0.1 that streams scripted answers (SSE), so
the real `claude` CLI can be driven end to end without an account or network: success, tools, 429,
401.

Each main-loop request (one that offers tools) takes the next scripted turn; the last turn repeats.
Side requests the CLI makes on its own (a session title, no tools) get a short structured answer, or
the scripted error when every turn is an error (a provider that refuses refuses everything).
`{api_key}` in a scripted text or error message is replaced by the key the client sent, as careless
gateways do, so a test can check that the caller redacts it.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

STUB_MODEL = "claude-stub-1"


@dataclass(frozen=True)
class TextTurn:
    """The model answers with plain text and ends its turn."""

    text: str
    usage: Mapping[str, int] | None = None  # message_start's usage (default: 25 in, 1 out)


@dataclass(frozen=True)
class ToolUseTurn:
    """The model calls one tool (e.g. Write) and waits for its result on the next request."""

    name: str
    input: Mapping[str, Any]
    text: str = ""  # optional text block before the call
    usage: Mapping[str, int] | None = None  # message_start's usage (default: 25 in, 1 out)


@dataclass(frozen=True)
class ErrorTurn:
    """The API refuses the request with an HTTP status and an Anthropic error body."""

    status: int
    error_type: str
    message: str
    retry_after: str | None = None


@dataclass(frozen=True)
class RawErrorTurn:
    """The API refuses with an HTTP status and a body of another provider's shape, verbatim (an
    Anthropic-compatible gateway such as GLM's or OpenRouter's answers in its own vocabulary)."""

    status: int
    body: Mapping[str, Any]
    retry_after: str | None = None


@dataclass(frozen=True)
class StallTurn:
    """The API accepts the request, sends `message_start`, then nothing more: the connection stays
    open for `hold` seconds (or until the stub stops), as a stuck upstream does."""

    hold: float = 60.0


Turn = TextTurn | ToolUseTurn | ErrorTurn | RawErrorTurn | StallTurn


def rate_limited(retry_after: str | None = "1",
                 message: str = "Number of request tokens has exceeded your per-minute rate "
                                "limit (stub)") -> ErrorTurn:
    return ErrorTurn(429, "rate_limit_error", message, retry_after=retry_after)


def unauthorized(message: str = "invalid x-api-key") -> ErrorTurn:
    return ErrorTurn(401, "authentication_error", message)


def overloaded() -> ErrorTurn:
    return ErrorTurn(529, "overloaded_error", "Overloaded")


def write_file(path: str, content: str, final_text: str = "Wrote the file.") -> list[Turn]:
    """Two turns: a Write tool call, then the closing answer once the tool result comes back."""
    return [ToolUseTurn("Write", {"file_path": path, "content": content}), TextTurn(final_text)]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it (headers with lower-case names)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] = field(default_factory=dict)
    status: int = 0  # what the stub answered

    @property
    def is_main(self) -> bool:
        """A main-loop request offers tools; the CLI's side requests (titles) offer none."""
        return self.path == "/v1/messages" and bool(self.body.get("tools"))

    def user_texts(self) -> list[str]:
        """Every text block of every user message, in order."""
        texts: list[str] = []
        for message in self.body.get("messages", []):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
                continue
            for block in content or []:
                if isinstance(block, dict) and block.get("type") == "text":
                    texts.append(str(block.get("text", "")))
        return texts

    def tool_results(self) -> list[Mapping[str, Any]]:
        return [block for message in self.body.get("messages", [])
                for block in (message.get("content") if isinstance(message.get("content"), list)
                              else [])
                if isinstance(block, dict) and block.get("type") == "tool_result"]


KEY_PLACEHOLDER = "{api_key}"


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _chunks(text: str, size: int = 12) -> Iterator[str]:
    # Several deltas per block, so the client really assembles a stream.
    for start in range(0, len(text), size):
        yield text[start:start + size]


def _text_block(index: int, text: str) -> Iterator[bytes]:
    yield _sse("content_block_start", {"type": "content_block_start", "index": index,
                                       "content_block": {"type": "text", "text": ""}})
    for piece in _chunks(text):
        yield _sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                           "delta": {"type": "text_delta", "text": piece}})
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})


def _tool_block(index: int, tool_id: str, turn: ToolUseTurn) -> Iterator[bytes]:
    yield _sse("content_block_start", {
        "type": "content_block_start", "index": index,
        "content_block": {"type": "tool_use", "id": tool_id, "name": turn.name, "input": {}}})
    for piece in _chunks(json.dumps(dict(turn.input)), size=24):
        yield _sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                           "delta": {"type": "input_json_delta",
                                                     "partial_json": piece}})
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})


def stream_events(turn: TextTurn | ToolUseTurn, model: str, number: int) -> Iterator[bytes]:
    """The SSE byte stream of one assistant message, as the Messages API sends it."""
    yield _sse("message_start", {"type": "message_start", "message": {
        "id": f"msg_stub_{number}", "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": dict(turn.usage or {"input_tokens": 25, "output_tokens": 1})}})
    index = 0
    if isinstance(turn, TextTurn):
        yield from _text_block(index, turn.text)
        stop_reason = "end_turn"
    else:
        if turn.text:
            yield from _text_block(index, turn.text)
            index += 1
        yield from _tool_block(index, f"toolu_stub_{number}", turn)
        stop_reason = "tool_use"
    yield _sse("message_delta", {"type": "message_delta",
                                 "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                 "usage": {"output_tokens": 7}})
    yield _sse("message_stop", {"type": "message_stop"})


class AnthropicStub:
    """The server: `with AnthropicStub([TextTurn("hi")]) as stub:` then point a client at
    `stub.base_url`; read `stub.requests` / `stub.main_requests` afterwards."""

    def __init__(self, turns: Sequence[Turn], *, side: Turn | None = None,
                 title: str = "Stub session") -> None:
        if not turns:
            raise ValueError("a script needs at least one turn")
        self.turns = tuple(turns)
        if side is None and all(isinstance(t, ErrorTurn | RawErrorTurn) for t in self.turns):
            side = self.turns[0]
        self.side = side if side is not None else TextTurn(json.dumps({"title": title}))
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._main_served = 0
        self._numbers = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._stopping = threading.Event()  # ends every StallTurn still holding its connection
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="anthropic-stub")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def main_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_main]

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/messages"]

    def start(self) -> AnthropicStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AnthropicStub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _next_turn(self, main: bool) -> tuple[Turn, int]:
        with self._lock:
            number = next(self._numbers)
            if not main:
                return self.side, number
            turn = self.turns[min(self._main_served, len(self.turns) - 1)]
            self._main_served += 1
            return turn, number

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)


def _make_handler(stub: AnthropicStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass  # the test reads stub.requests; stderr noise helps nobody

        def do_HEAD(self) -> None:  # the CLI's reachability probe
            self._finish_record({}, 200)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/v1/models":
                self._json(200, {"data": [{"type": "model", "id": STUB_MODEL,
                                           "display_name": "Stub"}],
                                 "has_more": False, "first_id": STUB_MODEL,
                                 "last_id": STUB_MODEL}, {})
                return
            self._json(404, _error_body("not_found_error", f"no route {path}"), {})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, _error_body("invalid_request_error", "body is not JSON"), {})
                return
            path = urlsplit(self.path).path
            if path == "/v1/messages/count_tokens":
                self._json(200, {"input_tokens": max(1, len(raw) // 4)}, body)
            elif path == "/v1/messages":
                self._messages(body)
            else:
                self._json(404, _error_body("not_found_error", f"no route {path}"), body)

        def _messages(self, body: dict[str, Any]) -> None:
            turn, number = stub._next_turn(main=bool(body.get("tools")))
            key = self.headers.get("x-api-key") or self.headers.get("authorization") or ""
            if isinstance(turn, RawErrorTurn):
                headers = {"retry-after": turn.retry_after} if turn.retry_after else {}
                self._json(turn.status, turn.body, body, headers)
                return
            if isinstance(turn, ErrorTurn):
                headers = {"retry-after": turn.retry_after} if turn.retry_after else {}
                message = turn.message.replace(KEY_PLACEHOLDER, key)
                self._json(turn.status, _error_body(turn.error_type, message), body, headers)
                return
            if isinstance(turn, TextTurn):
                turn = replace(turn, text=turn.text.replace(KEY_PLACEHOLDER, key))
            self._finish_record(body, 200)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("request-id", f"req_stub_{number}")
            self.send_header("connection", "close")  # no length: the stream ends with the socket
            self.end_headers()
            self.close_connection = True
            if isinstance(turn, StallTurn):
                start = next(stream_events(TextTurn(""), str(body.get("model") or STUB_MODEL),
                                           number))
                self.wfile.write(start)  # message_start only
                self.wfile.flush()
                stub._stopping.wait(turn.hold)
                return
            for event in stream_events(turn, str(body.get("model") or STUB_MODEL), number):
                self.wfile.write(event)
                self.wfile.flush()

        def _json(self, status: int, payload: Mapping[str, Any], body: Mapping[str, Any],
                  headers: Mapping[str, str] | None = None) -> None:
            self._finish_record(body, status)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _finish_record(self, body: Mapping[str, Any], status: int) -> None:
            parts = urlsplit(self.path)
            stub._record(RecordedRequest(
                method=self.command, path=parts.path, query=parts.query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body, status=status))

    return Handler


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}
