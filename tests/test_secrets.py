"""The secret guard reads every field: the formats detect-secrets lacks (our plugin), text read
without its invisible characters, every stored field on add and import, doctor over files on
disk, and output (the context digest, MCP results) redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from memcli import Memory
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
