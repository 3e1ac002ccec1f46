"""Import (mem JSONL/JSON, Mem0 get_all, MCP memory.json) and export, idempotency and round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import InvalidInputError, Memory
from memcli.cli.commands import app

FIXTURES = Path(__file__).parent / "fixtures"


def test_mem0_export_imports_with_scope_metadata_and_times(vault: Path) -> None:
    mem = Memory(vault=vault)
    summary = mem.import_text((FIXTURES / "mem0_get_all.json").read_text())
    assert summary == {"format": "mem0", "added": 2, "skipped": 0, "entities": 0, "relations": 0}
    by_text = {r["memory"]: r for r in mem.get_all()["results"]}
    pnpm = by_text["Prefers pnpm over npm"]
    assert (pnpm["user_id"], pnpm["metadata"], pnpm["created_at"]) == (
        "ray",
        {"category": "tools"},
        "2025-03-01T09:15:00-08:00",
    )
    assert pnpm["updated_at"] == "2025-03-02T10:00:00-08:00"
    assert by_text["Sister Maya lives in Oslo"]["agent_id"] == "travel-planner"
    again = mem.import_text((FIXTURES / "mem0_get_all.json").read_text())
    assert (again["added"], again["skipped"]) == (0, 2)
    assert len(mem.get_all()["results"]) == 2


def test_mcp_memory_json_becomes_entity_notes_linked_memories_and_relations(vault: Path) -> None:
    mem = Memory(vault=vault)
    summary = mem.import_text((FIXTURES / "mcp_memory.json").read_text())
    assert summary == {"format": "mcp-memory", "added": 3, "skipped": 0, "entities": 2, "relations": 2}
    texts = sorted(r["memory"] for r in mem.get_all()["results"] if r["path"].startswith("memories/"))
    assert texts == [
        "[[Ana]] Leads the data platform team",
        "[[Ana]] Prefers Go for backend services",
        "[[Project Falcon]] Event-ingestion platform started in 2025",
    ]
    ana = (vault / "entities" / "Ana.md").read_text()
    assert ana == "---\ntype: person\n---\n# Ana\n- works_on [[Project Falcon]]\n"
    assert (vault / "entities" / "Project Falcon.md").read_text().endswith("- uses [[PostgreSQL]]\n")
    before = {p: p.read_bytes() for p in vault.rglob("*.md")}
    again = mem.import_text((FIXTURES / "mcp_memory.json").read_text())
    assert again == {"format": "mcp-memory", "added": 0, "skipped": 3, "entities": 0, "relations": 0}
    assert {p: p.read_bytes() for p in vault.rglob("*.md")} == before


def test_export_then_import_round_trips_every_memory(vault: Path, tmp_path: Path) -> None:
    mem = Memory(vault=vault)
    first = mem.add(
        "Works on [[Project Falcon]]",
        user_id="ray",
        agent_id="coder",
        run_id="s1",
        tags=["work"],
        metadata={"n": 1, "nested": {"k": ["no", "0123"]}},
        infer=False,
    )["results"][0]["id"]
    second = mem.add("lives in Porto", user_id="ray", infer=False)["results"][0]["id"]
    mem.update(second, "lives in Ghent")
    third = mem.add("keeps chickens", infer=False)["results"][0]["id"]
    mem.delete(third)
    fields = ["id", "memory", "user_id", "agent_id", "run_id", "tags", "metadata", "created_at", "updated_at", "status"]

    def snapshot(m: Memory) -> list[dict]:
        rows = m.get_all(include_all=True)["results"]
        return sorted(({k: r[k] for k in fields} for r in rows), key=lambda r: r["id"])

    for fmt in ("jsonl", "json"):
        target = tmp_path / f"empty-{fmt}"
        other = Memory(vault=target)
        assert other.import_text(mem.export(fmt))["added"] == 3
        assert snapshot(other) == snapshot(mem)
        assert [h["event"] for h in other.history(second)] == ["ADD", "UPDATE"]
        assert other.get(third, include_deleted=True)["status"] == "deleted"
    assert {first, second, third} == {r["id"] for r in snapshot(mem)}


def test_mem0_and_markdown_exports(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("Prefers pnpm over npm", user_id="ray", tags=["tools"], infer=False)
    gone = mem.add("old fact", infer=False)["results"][0]["id"]
    mem.delete(gone)
    mem0 = json.loads(mem.export("mem0"))
    assert [r["memory"] for r in mem0["results"]] == ["Prefers pnpm over npm"]
    assert set(mem0["results"][0]) >= {
        "id",
        "memory",
        "metadata",
        "created_at",
        "updated_at",
        "user_id",
        "agent_id",
        "run_id",
    }
    markdown = mem.export("markdown")
    assert markdown.startswith("## Memories\n") and "### tools\n- Prefers pnpm over npm" in markdown
    assert "old fact" not in markdown


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("{not json", "not valid JSON"),
        ('{"something": "else"}', "unknown import format"),
        ('{"memory": "x"}\nnot json', "line 2 is not JSON"),
    ],
)
def test_bad_import_files(vault: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Memory(vault=vault).import_text(text)


def test_import_refuses_secrets(vault: Path) -> None:
    payload = json.dumps({"results": [{"id": "1", "memory": "key AKIAIOSFODNN7EXAMPLE", "user_id": "ray"}]})
    with pytest.raises(InvalidInputError, match="AWS Access Key"):
        Memory(vault=vault).import_text(payload)
    assert b"AKIA" not in b"".join(p.read_bytes() for p in vault.rglob("*") if p.is_file())


def test_cli_export_and_import(vault: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    Memory(vault=vault).add("Prefers pnpm over npm", infer=False)
    out = tmp_path / "dump.jsonl"
    assert runner.invoke(app, ["--vault", str(vault), "export", "-o", str(out)]).exit_code == 0
    result = runner.invoke(app, ["--vault", str(tmp_path / "new"), "import", str(out)], catch_exceptions=False)
    assert result.stdout == "Imported 1 memories (mem), skipped 0 already here; 0 entity notes, 0 relations.\n"
    again = runner.invoke(app, ["--vault", str(tmp_path / "new"), "import", str(out)], catch_exceptions=False)
    assert again.stdout.startswith("Imported 0 memories (mem), skipped 1 already here")
