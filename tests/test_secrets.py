"""The secret guard reads every field: the formats detect-secrets lacks (our plugin), text read
without its invisible characters, every stored field on add and import, doctor over files on
disk, and output (the context digest, MCP results) redacted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli.commands import app
from memcli.guard.secrets import SecretFoundError, scan

ZWSP = "\u200b"
GITHUB = "ghp_1234567890abcdefghijklmnopqrstuvwxyzAB"
ANTHROPIC = "sk-ant-api03-" + "Zx81Qm3Lp0Rt5Wv7Yb9Nc2Kd4Hf6Jg8" * 3 + "AA"
OPENAI_PROJECT = "sk-proj-" + "Rt5Wv7Yb9Nc2Kd4Hf6Jg8Zx81Qm3Lp0" * 2
OPENAI_SERVICE = "sk-svcacct-" + "Kd4Hf6Jg8Zx81Qm3Lp0Rt5Wv7Yb9Nc2" * 2
GITHUB_PAT = "github_pat_11AB2CD3EF4GH5IJ6KL7MN_" + "q8R9s0T1u2V3w4X5y6Z7" * 3
GOOGLE = "AIza" + "SyD4x9Qm2Lp7Rt5Wv3Yb8Nc1Kd6Hf0Jg4Zx9"[:35]
HUGGING_FACE = "hf_" + "Qm3Lp0Rt5Wv7Yb9Nc2Kd4Hf6Jg8Zx81Tu"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ81mNc7Lp"

# kind: (text as someone might paste it, the part that must never reach the disk)
FORMATS = {
    "Anthropic API Key": (f"claude key {ANTHROPIC} for the bot", ANTHROPIC),
    "OpenAI API Key": (f"openai {OPENAI_PROJECT} and {OPENAI_SERVICE}", OPENAI_PROJECT),
    "GitHub Fine-Grained Token": (f"CI uses {GITHUB_PAT}", GITHUB_PAT),
    "Google API Key": (f"maps key {GOOGLE}.", GOOGLE),
    "Hugging Face Token": (f"hub token {HUGGING_FACE}", HUGGING_FACE),
    "AWS Secret Access Key": (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
    "Secret Assignment": ("in .env: export DEPLOY_TOKEN=Zq81mNc7Lp2xR4", "Zq81mNc7Lp2xR4"),
}
ASSIGNMENTS = [  # name=value lines that are secrets: (text, value)
    ("API_KEY=a8f3k2m9q1z7", "a8f3k2m9q1z7"),
    ('DB_PASSWORD = "hunter2hunter2"', "hunter2hunter2"),
    ("client_secret=Zx9!Qm3Lp0", "Zx9!Qm3Lp0"),
    ("db.password=s3cr3tpa55", "s3cr3tpa55"),
    ("apiKey=Zq81mNc7Lp2xY", "Zq81mNc7Lp2xY"),
    ("https://api.example.org/v1?apikey=Zq81mNc7Lp2xY", "Zq81mNc7Lp2xY"),
]
PROSE = [  # not secrets: talk about keys, placeholders, references, identifiers
    "my password manager is 1Password",
    "API_KEY is set in the env",
    "the token expires every 30 days; rotate the SECRET monthly",
    "set API_KEY= in .env before the first run",
    "API_KEY=<your key>",
    "API_KEY=xxx",
    "API_KEY=xxxxxxxxxxxxxxxx",
    "PASSWORD=changeme",
    "GITHUB_TOKEN=$GITHUB_TOKEN in the workflow",
    "TOKEN=${{ secrets.TOKEN }}",
    "SSH_KEY=~/.ssh/id_ed25519",
    "sort_key=created_at and the primary key=customer_id",
    "if token == expected_token: retry",
    "uses sk-learn a lot; the sk-ant team; hf_hub_download fetches models",
    "API_KEY=[REDACTED:secret-assignment]",
]


def _on_disk(vault: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(vault.rglob("*")) if p.is_file())


def _hand_written(vault: Path, body: str, **meta: str) -> None:
    """A memory file someone wrote or pasted into the vault, bypassing the guard."""
    Memory(vault=vault).init()
    lines = ["---", "id: m-byhand0001", "created: 2025-01-02T10:00:00Z", "user: ray"]
    lines += [f"{key}: {value}" for key, value in meta.items()]
    (vault / "memories").mkdir(exist_ok=True)
    (vault / "memories" / "by-hand.md").write_text("\n".join([*lines, "---", body, ""]), encoding="utf-8")


# -- the formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_new_formats_are_refused_and_redacted(vault: Path, kind: str) -> None:
    text, raw = FORMATS[kind]
    mem = Memory(vault=vault)
    with pytest.raises(SecretFoundError, match=f"refusing to store a secret: {kind} in the text at line 1"):
        mem.add(text, infer=False)
    assert raw.encode() not in _on_disk(vault)
    memory_id = mem.add(text, redact=True, infer=False)["results"][0]["id"]
    stored = mem.get(memory_id)["memory"]
    assert "[REDACTED:" in stored and raw not in stored
    assert raw.encode() not in _on_disk(vault)


@pytest.mark.parametrize(("text", "value"), ASSIGNMENTS)
def test_name_value_lines_are_secrets_and_keep_their_name(text: str, value: str) -> None:
    (finding,) = scan(text)
    assert finding.kind == "Secret Assignment"
    assert text[finding.start : finding.end] == value  # the name stays readable: API_KEY=[REDACTED:…]


@pytest.mark.parametrize("text", PROSE)
def test_prose_and_placeholders_are_not_refused(vault: Path, text: str) -> None:
    assert scan(text) == []
    assert Memory(vault=vault).add(text, infer=False)["results"][0]["event"] == "ADD"


def test_a_redacted_memory_is_not_a_secret_again(vault: Path) -> None:
    mem = Memory(vault=vault)
    memory_id = mem.add("export API_KEY=a8f3k2m9q1z7", redact=True, infer=False)["results"][0]["id"]
    assert mem.get(memory_id)["memory"] == "export API_KEY=[REDACTED:secret-assignment]"
    assert mem.doctor()["stored_secrets"] == []


# -- invisible characters -------------------------------------------------------------------------


def test_a_zero_width_space_does_not_hide_a_token(vault: Path) -> None:
    split = GITHUB[:4] + ZWSP + GITHUB[4:]
    mem = Memory(vault=vault)
    with pytest.raises(SecretFoundError, match="GitHub Token in the text at line 1, column 7"):
        mem.add(f"token {split} here", infer=False)
    memory_id = mem.add(f"token {split} here", redact=True, infer=False)["results"][0]["id"]
    assert mem.get(memory_id)["memory"] == "token [REDACTED:github-token] here"  # the whole token went
    assert GITHUB[4:].encode() not in _on_disk(vault)


# -- every stored field on add ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("tag", {"tags": ["infra", GITHUB]}),
        ("metadata key", {"metadata": {GITHUB: "ci"}}),
        ("metadata key", {"metadata": {"ci": {GITHUB: "nested"}}}),
        ("user id", {"user_id": GITHUB}),
        ("agent id", {"agent_id": f"bot-{GITHUB}"}),
        ("run id", {"run_id": GITHUB[:4] + ZWSP + GITHUB[4:]}),
        ("source", {"source": GITHUB}),
    ],
)
def test_a_secret_in_a_name_or_id_is_refused_even_with_redact(vault: Path, field: str, call: dict[str, Any]) -> None:
    mem = Memory(vault=vault)
    for redact in (False, True):
        with pytest.raises(SecretFoundError, match=f"^refusing to store a secret: GitHub Token in the {field};") as err:
            mem.add("deploys on Fridays", infer=False, redact=redact, **call)
        assert GITHUB[4:] not in str(err.value)  # the message never repeats the secret
    assert GITHUB[4:].encode() not in _on_disk(vault)


def test_metadata_values_are_redacted_when_asked(vault: Path) -> None:
    mem = Memory(vault=vault)
    memory_id = mem.add("ci notes", metadata={"ci": {"token": GITHUB}}, redact=True, infer=False)["results"][0]["id"]
    assert mem.get(memory_id)["metadata"] == {"ci": {"token": "[REDACTED:github-token]"}}


def test_cli_and_mcp_refuse_a_secret_scope_in_one_line(vault: Path) -> None:
    from memcli.mcp_server import create_server

    result = CliRunner().invoke(app, ["--vault", str(vault), "add", "likes tea", "-u", GITHUB, "--redact"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: refusing to store a secret: GitHub Token in the user id;")
    assert result.stderr.count("\n") == 1 and GITHUB[4:] not in result.stderr
    mem = Memory(vault=vault)
    server = create_server(mem, default_user=GITHUB)

    async def call() -> Any:
        return await server.call_tool("add_memory", {"text": "likes tea", "infer": False}, None)

    with pytest.raises(Exception, match="refusing to store a secret: GitHub Token in the user id"):
        anyio.run(call)
    assert GITHUB[4:].encode() not in _on_disk(vault)


def test_renaming_an_entity_to_a_secret_is_refused(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("[[Ana]] runs the deploys", infer=False)
    with pytest.raises(SecretFoundError, match="GitHub Token in the entity name"):
        mem.rename_entity("Ana", GITHUB, apply=True)


# -- every field on import -------------------------------------------------------------------------


def _mem_item(**changes: Any) -> str:
    return json.dumps({"id": "m-imported01", "memory": "deploys on Fridays", "user_id": "ray", **changes})


@pytest.mark.parametrize(
    ("field", "payload"),
    [
        ("tag", _mem_item(tags=[GITHUB])),
        ("metadata key", _mem_item(metadata={GITHUB: 1})),
        ("user id", _mem_item(user_id=GITHUB)),
        ("source", _mem_item(source=f"chat {GITHUB}")),
        ("date", _mem_item(created_at=GITHUB)),
        ("status", _mem_item(status=GITHUB)),
        ("memory id", _mem_item(superseded_by=GITHUB)),
        ("history", _mem_item(history=[{"event": "UPDATE", "old": f"token {GITHUB}"}])),
        ("entity name", json.dumps({"type": "entity", "name": GITHUB, "observations": ["x"]})),
        ("relation target", json.dumps({"type": "relation", "from": "Ana", "relationType": "uses", "to": GITHUB})),
    ],
)
def test_import_scans_every_field(vault: Path, field: str, payload: str) -> None:
    with pytest.raises(SecretFoundError, match=f"GitHub Token in the {field}"):
        Memory(vault=vault).import_text(payload)
    assert GITHUB[4:].encode() not in _on_disk(vault)


def test_import_redacts_old_texts_in_history_when_asked(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.import_text(_mem_item(history=[{"event": "UPDATE", "old": f"token {GITHUB}"}]), redact=True)
    assert mem.history("m-imported01")[0]["new_memory"] == "token [REDACTED:github-token]"  # the first text
    assert GITHUB[4:].encode() not in _on_disk(vault)


# -- files already on disk -------------------------------------------------------------------------


def test_doctor_finds_a_secret_in_any_field_of_a_hand_written_file(vault: Path) -> None:
    _hand_written(vault, "deploys on Fridays", tags=f"[infra, {GITHUB}]", metadata=f"{{{GOOGLE}: maps}}")
    (finding,) = Memory(vault=vault).doctor()["stored_secrets"]
    assert finding["path"] == "memories/by-hand.md" and finding["fields"] == ["tags", "metadata"]
    result = CliRunner().invoke(app, ["--vault", str(vault), "doctor"], catch_exceptions=False)
    shown = " ".join(result.stdout.split())  # rich wraps long lines
    assert "secret: memories/by-hand.md holds a GitHub Token in its tags, metadata; remove it by hand" in shown
    assert GITHUB[4:] not in shown and GOOGLE not in shown


def test_context_redacts_a_secret_from_a_hand_written_memory(vault: Path, tmp_path: Path) -> None:
    _hand_written(vault, f"the deploy key is {GITHUB[:4]}{ZWSP}{GITHUB[4:]}", tags=f"[{HUGGING_FACE}]")
    digest = Memory(vault=vault).context(user_id="ray")["markdown"]
    assert "- the deploy key is [REDACTED:github-token] (2025-01-02, m-byhand0001)" in digest
    assert "### [REDACTED:hugging-face-token]" in digest
    agents = tmp_path / "AGENTS.md"
    CliRunner().invoke(app, ["--vault", str(vault), "context", "-u", "ray", "--write", str(agents)])
    written = agents.read_text(encoding="utf-8")
    assert "[REDACTED:github-token]" in written and GITHUB[4:] not in written and HUGGING_FACE not in written


def test_mcp_results_redact_a_hand_written_secret(vault: Path) -> None:
    from memcli.mcp_server import create_server

    _hand_written(vault, f"deploys use {GITHUB}", metadata=f"{{ci: {GOOGLE}}}")
    mem = Memory(vault=vault)
    server = create_server(mem, default_user="ray")

    async def call(name: str, args: dict[str, Any]) -> str:
        result = await server.call_tool(name, args, None)
        return result[0].text if isinstance(result, (list, tuple)) else result.content[0].text

    for name, args in [
        ("search_memories", {"query": "deploys"}),
        ("get_memory", {"memory_id": "m-byhand0001"}),
        ("get_memories", {}),
        ("add_memory", {"text": "deploys use the new runner", "replaces": ["m-byhand0001"]}),
        ("memory_history", {"memory_id": "m-byhand0001"}),
    ]:
        text = anyio.run(call, name, args)
        assert GITHUB[4:] not in text and GOOGLE not in text, name
        assert "[REDACTED:github-token]" in text, name
