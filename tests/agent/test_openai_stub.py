"""The loopback OpenAI stub itself, over real HTTP: what the real-CLI tests rely on and no CLI
test exercises (a streamed Chat Completions answer, error bodies, side requests, the bound)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from openai_stub import OpenAIStub, TextTurn, unauthorized


def post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json",
                                              "authorization": "Bearer sk-stub-key-123456"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_streamed_chat_answer_carries_the_text_usage_and_done() -> None:
    text = "notes.txt\n```\na longer answer that takes several chunks to stream\n```\n"
    with OpenAIStub([TextTurn(text)]) as stub:
        status, raw = post(f"{stub.base_url}/chat/completions",
                           {"model": "m", "stream": True, "messages": []})
    assert status == 200
    events = [line.removeprefix("data: ") for line in raw.decode().splitlines()
              if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len(chunks) > 3
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text
    assert chunks[-1]["usage"]["prompt_tokens"] > 0


def test_error_turn_answers_with_its_status_and_echoes_the_key_when_asked() -> None:
    with OpenAIStub([unauthorized("bad key {api_key}")]) as stub:
        status, raw = post(f"{stub.base_url}/responses", {"model": "m", "input": []})
    assert status == 401
    assert json.loads(raw)["error"]["message"] == "bad key sk-stub-key-123456"


def test_a_commit_message_request_takes_no_scripted_turn() -> None:
    with OpenAIStub([TextTurn("first"), TextTurn("second")]) as stub:
        side = {"model": "m", "messages": [{"role": "system", "content": "Write a commit "
                                             "message for this diff."}]}
        post(f"{stub.base_url}/chat/completions", side)
        _, raw = post(f"{stub.base_url}/chat/completions", {"model": "m", "messages": []})
    assert json.loads(raw)["choices"][0]["message"]["content"] == "first"
    assert [r.side for r in stub.requests] == [True, False]


@pytest.mark.parametrize("limit", [1, 3])
def test_the_stub_is_bounded(limit: int) -> None:
    with OpenAIStub([TextTurn("x")], max_requests=limit) as stub:
        statuses = [post(f"{stub.base_url}/chat/completions", {"messages": []})[0]
                    for _ in range(limit + 1)]
    assert statuses == [200] * limit + [500]
