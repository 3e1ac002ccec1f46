"""Optional: extraction and reconciliation by an LLM behind an OpenAI-compatible chat endpoint.

One request per `add`: the conversation and the current memories of the scope go in; a JSON
object of decisions comes out (constrained by a JSON schema where the server supports it, and
checked here in any case). Anything wrong — no answer, a timeout, an HTTP error, text that is
not the promised JSON, an id that is not among the memories shown — raises LLMError, and the
service falls back to the built-in rules. Only the standard library talks HTTP.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from memcli.errors import LLMError
from memcli.infer.types import ADD, DELETE, NONE, UPDATE, Decision, Existing

SYSTEM_PROMPT = """You manage a person's long-term memory. You get a conversation (or one message) and the
memories already stored for this person, each with an id. Decide what to remember.

Extract only lasting facts the USER states about themselves, their preferences, plans, people,
work, tools, constraints and conventions. Assistant turns are context only: never store what
the assistant suggested or said. Ignore greetings, questions, small talk, moods, hypotheticals
and other people's opinions. Apply corrections made inside the conversation. Write each fact as
a short statement that reads well in a list ("Prefers pnpm over npm", "Sister Maya lives in
Oslo"), keeping names, numbers and dates exactly.

For each fact compare with the stored memories:
- NONE: it is already stored, in any words (give that memory's id).
- UPDATE: it changes the value of a stored fact ("moved to Ghent" vs "lives in Porto"): give the
  stored memory's id and the new text. The new text must not mention the old value.
- ADD: it is new.
When the user retracts something ("forget that...", "I no longer..."), DELETE the stored
memories it names (their ids) and store nothing for the retraction itself.
Answer with JSON only: {"decisions": [{"event": "ADD"|"UPDATE"|"DELETE"|"NONE", "id": string or null, "text": string or null}]}."""

RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {
        "decisions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "event": {"type": "string", "enum": [ADD, UPDATE, DELETE, NONE]},
                    "id": {"type": ["string", "null"]},
                    "text": {"type": ["string", "null"]},
                },
                "required": ["event", "id", "text"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["decisions"],
    "additionalProperties": False,
}


class ChatClient:
    """An OpenAI-compatible /chat/completions endpoint."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.url = base_url.rstrip("/") + (
            "" if base_url.rstrip("/").endswith("/chat/completions") else "/chat/completions"
        )
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def complete(self, system: str, user: str) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "memory_decisions", "strict": True, "schema": RESPONSE_SCHEMA},
            },
        }
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
            raise LLMError(f"HTTP {err.code} from {self.url}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise LLMError(f"no answer from {self.url}: {reason}") from None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LLMError("the server's reply is not JSON") from None
        try:
            return str(payload["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            raise LLMError("the reply has no choices[0].message.content") from None

    def decide(self, turns: list[tuple[str, str]], existing: list[Existing]) -> list[Decision]:
        request = {
            "conversation": [{"role": role, "content": text} for role, text in turns],
            "memories": [{"id": m.id, "text": m.text} for m in existing],
        }
        content = self.complete(SYSTEM_PROMPT, json.dumps(request, ensure_ascii=False))
        return parse_decisions(content, existing)


def parse_decisions(content: str, existing: list[Existing]) -> list[Decision]:
    """The model's JSON answer as decisions, or LLMError when any part of it is unusable."""
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
    decisions = []
    for item in items:
        if not isinstance(item, dict) or item.get("event") not in (ADD, UPDATE, DELETE, NONE):
            raise LLMError("a decision has no valid event")
        event, memory_id, new_text = item["event"], item.get("id"), item.get("text")
        target = by_id.get(memory_id) if isinstance(memory_id, str) else None
        if event != ADD and target is None:
            raise LLMError(f"decision {event} names an unknown memory id")
        if event in (ADD, UPDATE) and (not isinstance(new_text, str) or not new_text.strip()):
            raise LLMError(f"decision {event} has no text")
        decisions.append(
            Decision(event, text=new_text.strip() if isinstance(new_text, str) else None, target=target, why="LLM")
        )
    seen: set[str] = set()
    for decision in decisions:  # one decision per stored memory
        if decision.target:
            if decision.target.id in seen:
                raise LLMError("two decisions name the same memory")
            seen.add(decision.target.id)
    return decisions
