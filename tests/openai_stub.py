"""A small OpenAI-compatible API on 127.0.0.1 that answers with scripted turns, so the real Codex
CLI (Responses API, streamed) and aider (Chat Completions through litellm, streamed or not) can be
driven end to end without an account or network: plain answers, tool calls that write files,
edit blocks, 401 and 429.

Each model request takes the next scripted turn; the last turn repeats. Requests a CLI makes on its
own (aider's commit-message request to its weak model) get `side` instead, so a script counts only
the turns of the task. `{api_key}` in a scripted text or error message is replaced by the key the
client sent, as careless gateways do, so a test can check that the caller redacts it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

STUB_MODEL = "gpt-stub"
KEY_PLACEHOLDER = "{api_key}"
USAGE = {"input": 25, "output": 7}  # tokens every successful answer reports
MAX_BODY = 8 * 1024 * 1024  # a bounded server: larger requests are refused


@dataclass(frozen=True)
class TextTurn:
    """The model answers with plain text (for aider: its edit blocks) and ends its turn."""

    text: str


@dataclass(frozen=True)
class FunctionCallTurn:
    """Responses API: the model calls one function tool (Codex's `exec_command`, `shell`) and
    waits for its output on the next request."""

    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class ErrorTurn:
    """The API refuses the request with an HTTP status and an OpenAI error body."""

    status: int
    code: str
    message: str
    retry_after: str | None = None


Turn = TextTurn | FunctionCallTurn | ErrorTurn


def unauthorized(message: str = "Incorrect API key provided (stub)") -> ErrorTurn:
    return ErrorTurn(401, "invalid_api_key", message)


def rate_limited(retry_after: str | None = "1") -> ErrorTurn:
    return ErrorTurn(429, "rate_limit_exceeded", "Rate limit reached for requests (stub)",
                     retry_after=retry_after)


def shell_write(path: str, content: str, final_text: str = "Wrote the file.") -> list[Turn]:
    """Codex writes `path` with a shell command, then closes its turn."""
    command = f"printf '%s' {_quote(content)} > {_quote(path)}"
    return [FunctionCallTurn("exec_command", {"cmd": command}), TextTurn(final_text)]


def patch_write(path: str, content: str, final_text: str = "Patched.") -> list[Turn]:
    """Codex adds `path` with its own `apply_patch` verb, which it intercepts and applies itself
    (subject to its sandbox), then closes its turn."""
    body = "".join(f"+{line}\n" for line in content.splitlines())
    patch = f"*** Begin Patch\n*** Add File: {path}\n{body}*** End Patch\n"
    command = f"apply_patch <<'EOF'\n{patch}EOF\n"
    return [FunctionCallTurn("exec_command", {"cmd": command}), TextTurn(final_text)]


def whole_file_edit(path: str, content: str, text: str = "Here is the file.") -> TextTurn:
    """aider's `whole` edit format: the path, then the whole new content in a fence."""
    return TextTurn(f"{text}\n\n{path}\n```\n{content}```\n")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it (headers with lower-case names)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] = field(default_factory=dict)
    status: int = 0  # what the stub answered
    side: bool = False  # a request the CLI made on its own; it took no scripted turn

    @property
    def is_model(self) -> bool:
        return self.path.endswith(("/responses", "/chat/completions"))

    def tool_outputs(self) -> list[str]:
        """Responses API: the outputs of earlier tool calls the client sent back."""
        return [str(item.get("output", "")) for item in self.body.get("input", [])
                if isinstance(item, dict) and item.get("type", "").endswith("call_output")]

    def texts(self) -> list[str]:
        """Every text the client sent as input or message content, in order."""
        out: list[str] = []
        for item in [*self.body.get("input", []), *self.body.get("messages", [])]:
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, str):
                out.append(content)
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and isinstance(block.get("text"), str):
                    out.append(block["text"])
        return out


def _sse(data: Mapping[str, Any], named: bool = True) -> bytes:
    head = f"event: {data['type']}\n" if named else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def responses_events(turn: TextTurn | FunctionCallTurn, model: str,
                     number: int) -> Iterator[bytes]:
    """The SSE stream of one Responses API answer, as Codex reads it."""
    rid = f"resp_stub_{number}"
    yield _sse({"type": "response.created", "response": {"id": rid, "model": model,
                                                         "status": "in_progress"}})
    if isinstance(turn, TextTurn):
        item: dict[str, Any] = {"type": "message", "id": f"msg_stub_{number}",
                                "role": "assistant", "status": "completed",
                                "content": [{"type": "output_text", "text": turn.text,
                                             "annotations": []}]}
        yield _sse({"type": "response.output_item.added", "output_index": 0,
                    "item": {**item, "status": "in_progress", "content": []}})
        yield _sse({"type": "response.output_text.delta", "item_id": item["id"],
                    "output_index": 0, "content_index": 0, "delta": turn.text})
    else:
        item = {"type": "function_call", "id": f"fc_stub_{number}",
                "call_id": f"call_stub_{number}", "name": turn.name,
                "arguments": json.dumps(dict(turn.arguments)), "status": "completed"}
        yield _sse({"type": "response.output_item.added", "output_index": 0,
                    "item": {**item, "status": "in_progress", "arguments": ""}})
    yield _sse({"type": "response.output_item.done", "output_index": 0, "item": item})
    yield _sse({"type": "response.completed", "response": {
        "id": rid, "model": model, "status": "completed", "usage": {
            "input_tokens": USAGE["input"], "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": USAGE["output"], "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": USAGE["input"] + USAGE["output"]}}})


def _chat_usage() -> dict[str, int]:
    return {"prompt_tokens": USAGE["input"], "completion_tokens": USAGE["output"],
            "total_tokens": USAGE["input"] + USAGE["output"]}


def chat_completion(text: str, model: str, number: int) -> dict[str, Any]:
    """A whole (non-streamed) Chat Completions answer."""
    return {"id": f"chatcmpl-stub-{number}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": _chat_usage()}


def chat_chunks(text: str, model: str, number: int) -> Iterator[bytes]:
    """A streamed Chat Completions answer: role, content pieces, stop with usage, [DONE]."""
    base = {"id": f"chatcmpl-stub-{number}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": text[i:i + 40]} for i in range(0, len(text), 40)]
    for delta in deltas:
        chunk = {**base, "choices": [{"index": 0, "delta": delta}]}
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": _chat_usage()}
    yield f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode()


class OpenAIStub:
    """The server: `with OpenAIStub([TextTurn("hi")]) as stub:`, point a client at
    `stub.base_url` (ending in /v1); read `stub.requests` / `stub.model_requests` afterwards."""

    def __init__(self, turns: Sequence[Turn], *, side: TextTurn | None = None,
                 max_requests: int = 200) -> None:
        if not turns:
            raise ValueError("a script needs at least one turn")
        self.turns = tuple(turns)
        self.side = side or TextTurn("stub: apply the task's edit")
        self.max_requests = max_requests
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._served = 0
        self._numbers = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="openai-stub")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """Requests that took a scripted turn (side requests left out)."""
        return [r for r in self.requests if r.is_model and not r.side]

    def start(self) -> OpenAIStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _next_turn(self, side: bool) -> tuple[Turn, int]:
        with self._lock:
            number = next(self._numbers)
            if side:
                return self.side, number
            turn = self.turns[min(self._served, len(self.turns) - 1)]
            self._served += 1
            return turn, number

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self._requests.append(request)
            return len(self._requests)


def _is_side(path: str, body: Mapping[str, Any]) -> bool:
    """aider asks its weak model for a commit message on its own: not a turn of the task."""
    if not path.endswith("/chat/completions"):
        return False
    system = [m.get("content") for m in body.get("messages", [])
              if isinstance(m, dict) and m.get("role") == "system"]
    return any(isinstance(s, str) and "commit message" in s.lower() for s in system)


def _make_handler(stub: OpenAIStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a stalled client cannot hold a thread forever

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass  # the test reads stub.requests; stderr noise helps nobody

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path.endswith("/models"):
                self._json(200, {"object": "list", "data": [
                    {"id": STUB_MODEL, "object": "model", "owned_by": "stub"}]}, {})
                return
            self._json(404, _error_body("not_found", f"no route {path}"), {})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                self._json(413, _error_body("too_large", "request body too large"), {})
                return
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._json(400, _error_body("invalid_json", "body is not JSON"), {})
                return
            path = urlsplit(self.path).path
            if not path.endswith(("/responses", "/chat/completions")):
                self._json(404, _error_body("not_found", f"no route {path}"), body)
                return
            if len(stub.requests) >= stub.max_requests:
                self._json(500, _error_body("stub_exhausted", "the stub's request budget is "
                                            "spent"), body)
                return
            side = _is_side(path, body)
            turn, number = stub._next_turn(side)
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            if isinstance(turn, ErrorTurn):
                headers = {"retry-after": turn.retry_after} if turn.retry_after else {}
                message = turn.message.replace(KEY_PLACEHOLDER, key)
                self._json(turn.status, _error_body(turn.code, message), body, headers, side)
                return
            if isinstance(turn, TextTurn):
                turn = TextTurn(turn.text.replace(KEY_PLACEHOLDER, key))
            model = str(body.get("model") or STUB_MODEL)
            if path.endswith("/responses"):
                self._stream(responses_events(turn, model, number), body, side)
            elif not isinstance(turn, TextTurn):
                self._json(400, _error_body("bad_script", "a chat answer must be text"), body)
            elif body.get("stream"):
                self._stream(chat_chunks(turn.text, model, number), body, side)
            else:
                self._json(200, chat_completion(turn.text, model, number), body, side=side)

        def _stream(self, events: Iterator[bytes], body: Mapping[str, Any],
                    side: bool) -> None:
            self._finish_record(body, 200, side)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")  # no length: the stream ends with the socket
            self.end_headers()
            self.close_connection = True
            for event in events:
                self.wfile.write(event)
                self.wfile.flush()

        def _json(self, status: int, payload: Mapping[str, Any], body: Mapping[str, Any],
                  headers: Mapping[str, str] | None = None, side: bool = False) -> None:
            self._finish_record(body, status, side)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _finish_record(self, body: Mapping[str, Any], status: int, side: bool) -> None:
            stub._record(RecordedRequest(
                method=self.command, path=urlsplit(self.path).path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body, status=status, side=side))

    return Handler


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": code, "param": None, "code": code}}
