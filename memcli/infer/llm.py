"""Optional: extraction and reconciliation by an LLM behind an OpenAI-compatible chat endpoint.

One request per `add`: the conversation, its date and the memories of the scope it may touch go
in; a JSON object of decisions comes out. The request is bounded so a small server cannot turn
it into a runaway: `max_tokens` sized to the input, a schema built for this request (the ids
shown as an enum, `maxItems`, `maxLength`) and a prompt budget that trims memories, never the
user's words.

Servers differ in what they accept. llama.cpp's `llama-server` honours `json_schema`;
llama-cpp-python's server refuses it with HTTP 500 but takes `json_object` with a `schema`;
some take neither. On a 400/422/500 the next format is tried (json_schema, json_object + schema,
plain JSON asked for in the prompt), and what worked is remembered per base URL for the process.
A context-size error teaches the server's context and is retried once with fewer memories.

A failure (no answer, a timeout, an HTTP error, an answer that is not the promised JSON or was
cut off) raises LLMError and the service falls back to the built-in rules. After FAILURES_TO_PAUSE
failures in a row the LLM is left alone for PAUSE_SECONDS (a down server would otherwise cost
the full timeout on every add of an import or an MCP session). A bad decision inside a good
answer (an unknown id, a missing or too long text, several lines) is dropped with its reason;
the rest are kept. Only the standard library talks HTTP.
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from memcli.errors import LLMError
from memcli.infer.types import ADD, DELETE, NONE, UPDATE, Decision, Existing
from memcli.text.normalize import estimate_tokens

log = logging.getLogger(__name__)

SYSTEM_PROMPT = """You manage a person's long-term memory. You get a conversation (or one message), the date
it was written and the memories already stored for this person, each with an id. Decide what to remember.

Extract only lasting facts the USER states about themselves, their preferences, plans, people,
work, tools, constraints and conventions. Assistant turns are context only: never store what
the assistant suggested or said. Ignore greetings, questions, small talk, moods, hypotheticals
and other people's opinions. Apply corrections made inside the conversation. Write each fact as
a short statement on one line that reads well in a list ("Prefers pnpm over npm", "Sister Maya
lives in Oslo"), keeping names, numbers and dates exactly; write a relative date ("next
Saturday") as the calendar date it means, counted from the conversation's date.

For each fact compare with the stored memories:
- NONE: it is already stored, in any words (give that memory's id).
- UPDATE: it changes the value of a stored fact ("moved to Ghent" vs "lives in Porto"): give the
  stored memory's id and the new text. The new text must not mention the old value.
- ADD: it is new (id null).
When the user retracts something ("forget that...", "I no longer..."), DELETE the stored
memories it names (their ids) and store nothing for the retraction itself.
Answer with JSON only: {"decisions": [{"event": "ADD"|"UPDATE"|"DELETE"|"NONE", "id": string or null, "text": string or null}]}."""

# The formats tried in order; the first a server takes is remembered for its base URL.
JSON_SCHEMA, JSON_OBJECT, PROMPT_ONLY = "json_schema", "json_object", "prompt"
FORMATS = (JSON_SCHEMA, JSON_OBJECT, PROMPT_ONLY)
REFUSED_FORMAT = frozenset({400, 422, 500})  # what servers answer to a response_format they do not take
ERROR_CHARS = 200  # of a server's error body, kept in warnings and errors
PROMPT_BUDGET = 3000  # tokens (estimate_tokens) of prompt at most, unless the server says less
FAILURES_TO_PAUSE = 3
PAUSE_SECONDS = 300.0
MAX_DECISIONS = 20
TEXT_CHARS = (120, 1000)  # the bounds of a decision's maxLength
CONTEXT_ERROR = re.compile(r"context (?:size|length|window)|too many tokens|prompt is too long", re.IGNORECASE)
CONTEXT_SIZE = re.compile(
    r"(?:available context size|maximum context length is|context (?:size|length|window)(?: of| is)?)\D{0,8}(\d{2,7})",
    re.IGNORECASE,
)


def monotonic() -> float:
    """The breaker's clock (a module function, so a test can move it)."""
    return time.monotonic()


@dataclass
class Server:
    """What this process has learned about one base URL."""

    response_format: str | None = None  # the first of FORMATS it accepted
    context: int | None = None  # its context size in tokens, from a context-size error
    failures: int = 0  # in a row
    paused_until: float = 0.0
    last_error: str | None = None


_SERVERS: dict[str, Server] = {}


def server(url: str) -> Server:
    """The process's record of a chat-completions URL (created on first use)."""
    return _SERVERS.setdefault(url, Server())


def forget_servers() -> None:
    """Forget every server's learned format, context and failures (tests; a long-lived process
    whose server was swapped)."""
    _SERVERS.clear()


class Refused(LLMError):
    """An HTTP error with the server's own words."""

    def __init__(self, status: int, body: str, url: str) -> None:
        self.status, self.body = status, _said(body)
        super().__init__(f"HTTP {status} from {url}: {self.body or '(no body)'}")


def _said(body: str) -> str:
    """The first ERROR_CHARS characters of what a server's error body says: its message when it
    is OpenAI's {"error": {"message": ...}} (or a bare {"detail": ...}), else the text itself."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data)
        message = error.get("message") or error.get("detail") if isinstance(error, dict) else error
        if message:
            body = message if isinstance(message, str) else json.dumps(message)
    return " ".join(body.split())[:ERROR_CHARS]


@dataclass
class Request:
    """One add's question to the LLM, bounded: what is shown, and how much may come back."""

    system: str
    user: str
    schema: dict[str, Any]
    max_tokens: int
    shown: list[Existing]
    text_chars: int
    trimmed: int = 0  # memories left out for the prompt budget


@dataclass
class Answer:
    """The decisions of one answer that can be used, and why the others were dropped."""

    decisions: list[Decision]
    dropped: list[str] = field(default_factory=list)
    response_format: str = JSON_SCHEMA
    shown: list[Existing] = field(default_factory=list)


def response_schema(ids: list[str], max_items: int, text_chars: int) -> dict[str, Any]:
    """The JSON schema of one answer: the event, an id among those shown (or null), a bounded
    text. A grammar-constrained server cannot loop inside an id or a text past these."""
    return {
        "type": "object",
        "properties": {
            "decisions": {
                "type": "array",
                "maxItems": max_items,
                "items": {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string", "enum": [ADD, UPDATE, DELETE, NONE]},
                        "id": {"enum": [*ids, None]},
                        "text": {"anyOf": [{"type": "string", "maxLength": text_chars}, {"type": "null"}]},
                    },
                    "required": ["event", "id", "text"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["decisions"],
        "additionalProperties": False,
    }


def _sentences(text: str) -> int:
    return max(1, len([part for part in re.split(r"[.!?;\n]+", text) if part.strip()]))


def build_request(
    turns: list[tuple[str, str]], candidates: list[Existing], date: str | None, budget: int = PROMPT_BUDGET
) -> Request:
    """The request for `turns` with as many of `candidates` (most relevant first) as the prompt
    budget allows. The user's words are never cut: with no room, no memories are shown."""
    said = "\n".join(text for role, text in turns if role == "user") or "\n".join(text for _, text in turns)
    longest = max([len(text) for _, text in turns] + [len(m.text) for m in candidates[:MAX_DECISIONS]] + [0])
    text_chars = min(max(longest + 40, TEXT_CHARS[0]), TEXT_CHARS[1])
    shown = list(candidates)
    while True:
        max_items = min(MAX_DECISIONS, 2 * _sentences(said) + min(len(shown), 6) + 1)
        # an answer restates the message at most about twice over, plus each decision's event and id
        max_tokens = min(max(64 + 2 * estimate_tokens(said) + 24 * max_items, 128), 4096)
        body: dict[str, Any] = {
            "date": date,
            "conversation": [{"role": role, "content": text} for role, text in turns],
            "memories": [{"id": m.id, "text": m.text} for m in shown],
        }
        user = json.dumps(body, ensure_ascii=False)
        if not shown or estimate_tokens(SYSTEM_PROMPT) + estimate_tokens(user) <= budget:
            break
        shown.pop()  # the least relevant goes first
    schema = response_schema([m.id for m in shown], max_items, text_chars)
    return Request(SYSTEM_PROMPT, user, schema, max_tokens, shown, text_chars, len(candidates) - len(shown))


def _response_format(kind: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if kind == JSON_SCHEMA:
        return {"type": "json_schema", "json_schema": {"name": "memory_decisions", "strict": True, "schema": schema}}
    if kind == JSON_OBJECT:  # llama-cpp-python and llama-server constrain to `schema` here
        return {"type": "json_object", "schema": schema}
    return None


class ChatClient:
    """An OpenAI-compatible /chat/completions endpoint, with what this process learned of it."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.url = base_url.rstrip("/") + (
            "" if base_url.rstrip("/").endswith("/chat/completions") else "/chat/completions"
        )
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    @property
    def server(self) -> Server:
        return server(self.url)

    # -- the circuit breaker -----------------------------------------------------------------

    def paused(self) -> bool:
        """True while the breaker is open: the LLM failed too often lately; the rules decide."""
        return monotonic() < self.server.paused_until

    def _failed(self, err: LLMError) -> LLMError:
        """Count a failure; the error to raise, which says so when it pauses the LLM."""
        state = self.server
        state.failures += 1
        state.last_error = str(err)
        if state.failures < FAILURES_TO_PAUSE:
            return err
        state.paused_until = monotonic() + PAUSE_SECONDS
        return LLMError(
            f"{err}; {state.failures} failures in a row: the LLM is left alone for the next "
            f"{PAUSE_SECONDS / 60:g} minutes"
        )

    def _worked(self) -> None:
        self.server.failures, self.server.paused_until = 0, 0.0

    # -- one round trip ----------------------------------------------------------------------

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            request = urllib.request.Request(
                self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            try:
                text = err.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            raise Refused(err.code, text, self.url) from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LLMError("the server's reply is not JSON") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise LLMError(f"no answer from {self.url}: {reason}") from None
        if not isinstance(payload, dict):
            raise LLMError("the server's reply is not a JSON object")
        return payload

    def complete(self, system: str, user: str, schema: dict[str, Any], max_tokens: int) -> tuple[str, str]:
        """The answer's content and the response format it was asked in. Formats a server
        refuses are skipped for the rest of the process; one warning says what was refused and
        what is used instead, with the server's own words."""
        state = self.server
        start = FORMATS.index(state.response_format) if state.response_format else 0
        refused: list[tuple[str, Refused]] = []
        for kind in FORMATS[start:]:
            body: dict[str, Any] = {
                "model": self.model,
                "temperature": 0,
                "max_tokens": max_tokens,
                "messages": [
                    {"role": "system", "content": system + _instructions(kind, schema)},
                    {"role": "user", "content": user},
                ],
            }
            if (response_format := _response_format(kind, schema)) is not None:
                body["response_format"] = response_format
            try:
                payload = self._post(body)
            except Refused as err:
                if err.status in REFUSED_FORMAT and not CONTEXT_ERROR.search(err.body) and kind != PROMPT_ONLY:
                    refused.append((kind, err))
                    continue
                if refused:  # each body once: a server that fails every way tends to say the same
                    earlier = [
                        f"{k} (HTTP {e.status}{'' if e.body == err.body else ': ' + e.body})" for k, e in refused
                    ]
                    raise LLMError(
                        f"{err} (asked without response_format; before that it refused {', '.join(earlier)})"
                    ) from None
                raise
            if refused:
                said = "; ".join(f"{k} (HTTP {e.status}: {e.body or 'no body'})" for k, e in refused)
                log.warning(
                    f"mem: the LLM at {self.url} refused response_format {said}; "
                    f"{kind} worked and is used for the rest of this process"
                )
            state.response_format = kind
            return _content(payload, max_tokens), kind
        raise AssertionError("unreachable: the last format either answers or raises")

    def decide(self, turns: list[tuple[str, str]], candidates: list[Existing], date: str | None = None) -> Answer:
        """The LLM's decisions for `turns` against `candidates` (most relevant first; as many as
        fit the prompt budget are shown). Raises LLMError when the answer is unusable; counts
        toward the breaker either way."""
        try:
            answer = self._decide(turns, candidates, date)
        except LLMError as err:
            raise self._failed(err) from None
        self._worked()
        return answer

    def _decide(self, turns: list[tuple[str, str]], candidates: list[Existing], date: str | None) -> Answer:
        state = self.server
        request = self._bounded(turns, candidates, date)
        try:
            content, kind = self.complete(request.system, request.user, request.schema, request.max_tokens)
        except Refused as err:
            size = CONTEXT_SIZE.search(err.body)
            if not (CONTEXT_ERROR.search(err.body) and size and request.shown):
                raise
            state.context = int(size.group(1))  # the server said how much it holds: ask again, once, within it
            retry = self._bounded(turns, candidates, date)
            if len(retry.shown) >= len(request.shown):
                raise
            request = retry
            content, kind = self.complete(request.system, request.user, request.schema, request.max_tokens)
        answer = parse_decisions(content, request.shown, request.text_chars)
        answer.response_format, answer.shown = kind, request.shown
        return answer

    def _bounded(self, turns: list[tuple[str, str]], candidates: list[Existing], date: str | None) -> Request:
        budget = PROMPT_BUDGET
        context = self.server.context
        if context:  # estimate_tokens is rough: leave a tenth of the context spare, and room to answer
            first = build_request(turns, [], date)
            budget = min(budget, max(int(context * 0.9) - first.max_tokens, 0))
        return build_request(turns, candidates, date, budget)

    def probe(self) -> dict[str, Any]:
        """One tiny round trip, for `mem doctor`: reachable, the response format the server
        takes, the time it took. Never raises; ignores the breaker."""
        schema = {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}},
            "required": ["ok"],
            "additionalProperties": False,
        }
        started = time.monotonic()
        try:
            content, kind = self.complete('Answer with JSON only: {"ok": true}', "ping", schema, 16)
        except LLMError as err:
            elapsed = round((time.monotonic() - started) * 1000)
            reachable = not str(err).startswith("no answer")
            return {"reachable": reachable, "response_format": None, "round_trip_ms": elapsed, "error": str(err)}
        elapsed = round((time.monotonic() - started) * 1000)
        ok = content.strip().startswith("{")
        return {
            "reachable": True,
            "response_format": kind,
            "round_trip_ms": elapsed,
            "error": None if ok else f"the answer is not JSON: {content[:60]!r}",
        }


def _instructions(kind: str, schema: dict[str, Any]) -> str:
    """Without a response_format, the schema goes into the prompt."""
    if kind != PROMPT_ONLY:
        return ""
    return "\nAnswer with one JSON object and nothing else, valid against this JSON schema:\n" + json.dumps(schema)


def _content(payload: dict[str, Any], max_tokens: int) -> str:
    try:
        choice = payload["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError("the reply has no choices[0].message.content") from None
    if choice.get("finish_reason") == "length":
        raise LLMError(f"the answer was cut off at max_tokens ({max_tokens})")
    return str(content)


def parse_decisions(content: str, existing: list[Existing], text_chars: int = TEXT_CHARS[1]) -> Answer:
    """The model's JSON answer as decisions. Each decision is checked on its own: one with an
    unknown id, no or too long a text, several lines, or a memory already decided on is dropped
    with its reason and the rest kept. LLMError only when the answer as a whole is unusable."""
    text = content.strip()
    if text.startswith("```"):  # some servers wrap JSON in a code fence despite the schema
        text = text.strip("`").removeprefix("json").strip()
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        raise LLMError("the answer is not valid JSON") from None
    items = data.get("decisions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise LLMError('the answer has no "decisions" list')
    by_id = {m.id: m for m in existing}
    decisions: list[Decision] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for number, item in enumerate(items[:MAX_DECISIONS], start=1):
        why = _unusable(item, by_id, seen, text_chars)
        if why:
            dropped.append(f"decision {number}: {why}")
            continue
        event, memory_id, new_text = item["event"], item.get("id"), item.get("text")
        target = by_id.get(memory_id) if event != ADD and isinstance(memory_id, str) else None
        if target is not None:
            seen.add(target.id)
        words = new_text.strip() if event in (ADD, UPDATE) else None
        decisions.append(Decision(event, text=words, target=target, why="LLM"))
    if len(items) > MAX_DECISIONS:
        dropped.append(f"{len(items) - MAX_DECISIONS} decision(s) past the first {MAX_DECISIONS}")
    return Answer(decisions, dropped)


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:40] + f"… ({len(shown)} characters)"


def _unusable(item: Any, by_id: dict[str, Existing], seen: set[str], text_chars: int) -> str | None:
    """Why one decision cannot be used, or None."""
    if not isinstance(item, dict) or item.get("event") not in (ADD, UPDATE, DELETE, NONE):
        return "no valid event"
    event, memory_id, new_text = item["event"], item.get("id"), item.get("text")
    if event != ADD:
        if not isinstance(memory_id, str) or memory_id not in by_id:
            return f"{event} names an unknown memory id {_short(memory_id)}"
        if memory_id in seen:
            return f"{event} names {memory_id}, which an earlier decision already decided on"
    if event in (ADD, UPDATE):
        if not isinstance(new_text, str) or not new_text.strip():
            return f"{event} has no text"
        if len(new_text.strip()) > text_chars:
            return f"{event} text is {len(new_text.strip())} characters, more than the {text_chars} allowed"
        if "\n" in new_text.strip() or "\r" in new_text.strip():
            return f"{event} text spans several lines; a memory from the LLM is one statement"
    return None
