"""Test doubles for code that uses mem: a deterministic embedder that loads no model, and a
stub OpenAI-compatible chat server on 127.0.0.1 for the optional LLM path.

>>> from memcli import Memory
>>> from memcli.testing import HashEmbedder, StubChatServer
>>> m = Memory(vault=tmp_path, embedder=HashEmbedder())   # hybrid search, no ONNX, no download
>>> with StubChatServer(lambda request: {"decisions": []}) as server:   # MEM_LLM_BASE_URL=server.url
...     ...
"""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from memcli.text.normalize import tokenize


class HashEmbedder:
    """A stand-in for the model with the Embedder protocol: a hashed bag of stemmed words,
    L2-normalised. Texts sharing words are similar, so ranking logic can be tested without
    ONNX; `calls` records the texts embedded as passages."""

    name = "fake-hash"
    sha256 = "0" * 64
    dim = 1024

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for token in tokenize(text):
            vector[zlib.crc32(token.encode()) % self.dim] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.calls.extend(texts)
        return np.array([self._vector(t) for t in texts], dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


Answerer = Callable[[dict[str, Any]], Any]  # a request body -> a dict (sent as JSON content) or raw text


class StubChatServer:
    """A chat-completions endpoint on 127.0.0.1 that behaves like the real servers mem meets:

    - `answer(request)` gives the content (a dict is sent as JSON; a str as it is);
    - `refuse` names response_format types answered with HTTP `refuse_status` and `refuse_body`
      (llama-cpp-python refuses "json_schema" with 500; "none" refuses a request without one);
    - `context` (tokens, counted ~4 characters each as servers roughly do) answers a longer
      prompt with llama-server's 400 "exceeds the available context size";
    - `loop` answers like a small model looping inside the grammar: an endless id string, cut
      off at `max_tokens` (finish_reason "length"), or, without max_tokens, after `loop_seconds`;
    - `status`/`delay` for a plain failure or a slow model.
    `requests` and `headers` record what was asked."""

    def __init__(self, answer: Answerer | None = None) -> None:
        self.answer: Answerer = answer or (lambda request: {"decisions": []})
        self.refuse: set[str] = set()
        self.refuse_status = 500
        self.refuse_body = "Input should be 'text' or 'json_object'"
        self.context: int | None = None
        self.loop = False
        self.loop_seconds = 3.0
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first (use it as a context manager)"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> StubChatServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append(body)
                stub.headers.append(dict(self.headers))
                status, payload = stub._reply(body)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _reply(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kind = (body.get("response_format") or {}).get("type", "none")
        if kind in self.refuse:
            return self.refuse_status, {"error": {"code": self.refuse_status, "message": self.refuse_body}}
        prompt = sum(len(m.get("content", "")) for m in body.get("messages", [])) // 4
        if self.context is not None and prompt > self.context:
            error = f"request ({prompt} tokens) exceeds the available context size ({self.context} tokens), try increasing it"
            return 400, {"error": {"code": 400, "message": error, "type": "exceed_context_size_error"}}
        if self.delay:
            time.sleep(self.delay)  # a slow model, not synchronisation
        if self.status != 200:
            return self.status, {"error": {"code": self.status, "message": "stub failure"}}
        finish = "stop"
        if self.loop:
            limit = body.get("max_tokens")
            if limit is None:
                time.sleep(self.loop_seconds)  # generating until the context is full
                limit = 4096
            content = '{"decisions": [{"event": "UPDATE", "id": "m-' + "0" * (4 * int(limit)) + '"'
            finish = "length"
        else:
            answer = self.answer(body)
            content = answer if isinstance(answer, str) else json.dumps(answer)
        message = {"role": "assistant", "content": content}
        return 200, {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def shown(request: dict[str, Any]) -> dict[str, Any]:
    """What mem sent the stub as the user message: {"date", "conversation", "memories"}."""
    content = request["messages"][-1]["content"]
    return dict(json.loads(content))


def user_words(request: dict[str, Any]) -> str:
    """The user's turns of a request, joined (for answerers that echo them, as a weak model does)."""
    return " ".join(t["content"] for t in shown(request)["conversation"] if t["role"] == "user")


def weak_model(kind: str) -> Answerer:
    """Answerers like a very small model's: "none" calls everything known (the first memory
    shown, or null), "add" stores the user's words as they are, "echo-update" replaces the
    first memory shown with the user's words."""

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        memories = shown(request)["memories"]
        first = memories[0]["id"] if memories else None
        said = re.sub(r"\s+", " ", user_words(request)).strip()
        if kind == "none":
            return {"decisions": [{"event": "NONE", "id": first, "text": None}]}
        if kind == "echo-update" and first is not None:
            return {"decisions": [{"event": "UPDATE", "id": first, "text": said}]}
        return {"decisions": [{"event": "ADD", "id": None, "text": said}]}

    return answer
