"""The optional LLM path, against a stub chat-completions server on 127.0.0.1 (no network)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from memcli import Memory
from memcli.infer.llm import LLMError, parse_decisions
from memcli.infer.types import Existing


class Stub:
    """What the stub answers next, and what it was asked."""

    def __init__(self) -> None:
        self.reply: Any = None  # a dict -> chat completion with json content; a str -> raw content
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            if state.delay:
                time.sleep(state.delay)  # a slow model, not synchronisation
            content = state.reply if isinstance(state.reply, str) else json.dumps(state.reply)
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def llm_mem(vault: Path, stub: tuple[Stub, str], monkeypatch: pytest.MonkeyPatch) -> Memory:
    monkeypatch.setenv("MEM_LLM_BASE_URL", stub[1])
    monkeypatch.setenv("MEM_LLM_MODEL", "tiny-test-model")
    monkeypatch.setenv("MEM_LLM_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("MEM_LLM_TIMEOUT", "0.5")
    return Memory(vault=vault)


def test_llm_decisions_are_applied(llm_mem: Memory, stub: tuple[Stub, str]) -> None:
    state, _ = stub
    state.reply = {"decisions": [{"event": "ADD", "id": None, "text": "Lives in Porto"}]}
    (added,) = llm_mem.add("I live in Porto", user_id="ray")["results"]
    assert added["event"] == "ADD" and added["memory"] == "Lives in Porto"
    request = state.requests[-1]
    assert request["model"] == "tiny-test-model"
    assert request["response_format"]["type"] == "json_schema"
    assert state.headers[-1]["Authorization"] == "Bearer sk-test-not-a-real-key"
    sent = json.loads(request["messages"][1]["content"])
    assert sent["conversation"] == [{"role": "user", "content": "I live in Porto"}] and sent["memories"] == []

    state.reply = {"decisions": [{"event": "UPDATE", "id": added["id"], "text": "Lives in Ghent"}]}
    (updated,) = llm_mem.add("we moved to Ghent", user_id="ray")["results"]
    assert updated["event"] == "UPDATE" and updated["previous_memory"] == "Lives in Porto"
    assert json.loads(state.requests[-1]["messages"][1]["content"])["memories"] == [
        {"id": added["id"], "text": "Lives in Porto"}
    ]
    assert [r["memory"] for r in llm_mem.get_all(user_id="ray")["results"]] == ["Lives in Ghent"]
    assert llm_mem.get(added["id"])["status"] == "superseded"


@pytest.mark.parametrize(
    "reply, status, delay, why",
    [
        ("this is not json", 200, 0.0, "not valid JSON"),
        (
            {"decisions": [{"event": "UPDATE", "id": "m-doesnotexist", "text": "x"}]},
            200,
            0.0,
            "UPDATE names an unknown memory id",
        ),
        ({"facts": []}, 200, 0.0, 'no "decisions"'),
        ({"decisions": []}, 500, 0.0, "HTTP 500"),
        ({"decisions": []}, 200, 2.0, "no answer"),
    ],
)
def test_any_llm_failure_falls_back_to_the_rules(
    llm_mem: Memory,
    stub: tuple[Stub, str],
    caplog: pytest.LogCaptureFixture,
    reply: Any,
    status: int,
    delay: float,
    why: str,
) -> None:
    state, _ = stub
    state.reply, state.status, state.delay = reply, status, delay
    started = time.monotonic()
    (added,) = llm_mem.add("I prefer pnpm over npm", user_id="ray")["results"]
    assert time.monotonic() - started < 1.9  # the 0.5 s timeout held; the stub would answer after 2 s
    assert added == {"id": added["id"], "memory": "Prefers pnpm over npm", "event": "ADD"}  # the rules' answer
    warnings = [r.getMessage() for r in caplog.records if "LLM" in r.getMessage()]
    assert len(warnings) == 1 and why in warnings[0] and "built-in" in warnings[0]


def test_no_llm_configured_sends_nothing(vault: Path, stub: tuple[Stub, str]) -> None:
    Memory(vault=vault).add("I live in Porto", user_id="ray")
    assert stub[0].requests == []


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"decisions": [{"event": "ADD", "id": null, "text": ""}]}', "has no text"),
        ('{"decisions": [{"event": "MERGE", "id": null, "text": "x"}]}', "no valid event"),
        (
            '{"decisions": [{"event": "DELETE", "id": "m-1", "text": null}, {"event": "UPDATE", "id": "m-1", "text": "y"}]}',
            "same memory",
        ),
    ],
)
def test_parse_decisions_refuses_what_it_cannot_trust(content: str, message: str) -> None:
    with pytest.raises(LLMError, match=message):
        parse_decisions(content, [Existing("m-1", "old")])


def test_parse_decisions_accepts_a_fenced_answer() -> None:
    (decision,) = parse_decisions(
        '```json\n{"decisions": [{"event": "NONE", "id": "m-1", "text": null}]}\n```', [Existing("m-1", "old")]
    )
    assert decision.event == "NONE" and decision.target.id == "m-1"


def test_a_base_url_that_is_not_http_is_refused_in_one_line(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from memcli.errors import InvalidInputError

    monkeypatch.setenv("MEM_LLM_BASE_URL", "localhost:11434")
    monkeypatch.setenv("MEM_LLM_MODEL", "x")
    with pytest.raises(InvalidInputError, match="must be an http:// or https:// URL"):
        Memory(vault=vault)


def test_llm_decisions_pass_the_rules_vetoes(llm_mem: Memory, stub: tuple[Stub, str]) -> None:
    """Never trusted further than the rules: an update across people is kept beside the old
    memory (a possible conflict), and a word-for-word duplicate is NONE, not a second copy."""
    state, _ = stub
    state.reply = {"decisions": [{"event": "ADD", "id": None, "text": "Lives in Porto"}]}
    (home,) = llm_mem.add("I live in Porto", user_id="ray")["results"]
    state.reply = {"decisions": [{"event": "UPDATE", "id": home["id"], "text": "Sister Maya lives in Bergen"}]}
    (crossed,) = llm_mem.add("my sister Maya lives in Bergen", user_id="ray")["results"]
    assert crossed["event"] == "ADD" and [c["id"] for c in crossed["possible_conflicts"]] == [home["id"]]
    assert llm_mem.get(home["id"])["status"] == "current"
    state.reply = {"decisions": [{"event": "ADD", "id": None, "text": "lives in  porto"}]}
    (again,) = llm_mem.add("I live in Porto", user_id="ray")["results"]
    assert again["event"] == "NONE" and again["id"] == home["id"]
