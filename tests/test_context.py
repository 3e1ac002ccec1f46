"""`mem context`: the digest (golden file), its budget and order, and the marked-block rewrite."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import InvalidInputError, Memory
from memcli.cli.commands import app
from memcli.interop.digest import END, START, digest, replace_block
from memcli.models import MemoryRecord
from memcli.text.normalize import estimate_tokens as tokens

GOLDEN = Path(__file__).parent / "golden"


def _records() -> list[MemoryRecord]:
    def record(n: int, text: str, tags: list[str] | None = None) -> MemoryRecord:
        return MemoryRecord(
            id=f"m-{n:010d}", text=text, path=f"memories/{n}.md", tags=tags or [], updated=f"2026-10-{n:02d}T09:00:00Z"
        )

    return [
        record(5, "Always use pnpm, never npm, in Ray's repos", ["conventions"]),
        record(4, "Works on [[Project Falcon]] with [[Ana]]"),
        record(3, "Prefers TypeScript over JavaScript", ["tech"]),
        record(2, "Commit messages follow\nConventional Commits", ["conventions"]),
        record(1, "Has a cat called Miso"),
    ]


def test_digest_matches_the_golden_file() -> None:
    markdown, shown = digest(_records(), budget=1500)
    assert markdown == (GOLDEN / "context_digest.md").read_text()
    assert shown == [r.id for r in _records()]


def test_digest_respects_the_budget_and_says_what_it_left_out() -> None:
    many = [
        MemoryRecord(id=f"m-{i:010d}", text=f"fact number {i} about the project and its many details", path=f"{i}.md")
        for i in range(200)
    ]
    markdown, shown = digest(many, budget=300)
    assert tokens(markdown) <= 300 + 20  # the closing "more not shown" line may go a little over
    assert 0 < len(shown) < 200
    assert markdown.rstrip().endswith(f"_{200 - len(shown)} more not shown; `mem search` finds them._")
    assert shown == [r.id for r in many[: len(shown)]]  # in the given order, nothing skipped


def test_context_puts_what_the_query_finds_first(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("Prefers pnpm over npm", user_id="ray", infer=False)
    mem.add("Sister lives in Oslo", user_id="ray", infer=False)
    mem.add("Someone else's memory", user_id="ana", infer=False)
    newest_first = mem.context(user_id="ray")
    assert [mem.get(i)["memory"] for i in newest_first["ids"]] == ["Sister lives in Oslo", "Prefers pnpm over npm"]
    biased = mem.context(user_id="ray", query="package manager pnpm")
    assert [mem.get(i)["memory"] for i in biased["ids"]] == ["Prefers pnpm over npm", "Sister lives in Oslo"]
    with pytest.raises(InvalidInputError, match="budget"):
        mem.context(budget=0)


@pytest.mark.parametrize(
    "existing, expected",
    [
        (None, f"{START}\nBLOCK\n{END}\n"),
        ("", f"{START}\nBLOCK\n{END}\n"),
        ("# Rules\n", f"# Rules\n\n{START}\nBLOCK\n{END}\n"),
        ("# Rules", f"# Rules\n\n{START}\nBLOCK\n{END}\n"),
        (
            f"# Rules\r\n\r\n{START}\nold\nstuff\n{END}\r\ntail  \r\n",
            f"# Rules\r\n\r\n{START}\nBLOCK\n{END}\r\ntail  \r\n",
        ),
        (f"{START}\nold\n{END}", f"{START}\nBLOCK\n{END}"),
    ],
)
def test_replace_block(existing: str | None, expected: str) -> None:
    assert replace_block(existing, "BLOCK\n") == expected


@pytest.mark.parametrize("broken", [f"{START}\nno end\n", f"{END}\n{START}\n", f"{START}\n{END}\n{START}\n{END}\n"])
def test_a_broken_block_is_refused(broken: str) -> None:
    with pytest.raises(InvalidInputError, match="broken mem block"):
        replace_block(broken, "BLOCK")


def test_write_keeps_the_rest_of_the_file_and_is_idempotent(vault: Path, tmp_path: Path) -> None:
    Memory(vault=vault).add("Always use pnpm", user_id="ray", tags=["conventions"], infer=False)
    agents = tmp_path / "AGENTS.md"
    before, after = "# Agents\n\nHand-written  rules.\n\n", "\n## More\ntrailing text\n"
    agents.write_text(f"{before}{START}\nstale\n{END}{after}")
    runner = CliRunner()
    first = runner.invoke(
        app, ["--vault", str(vault), "context", "-u", "ray", "--write", str(agents)], catch_exceptions=False
    )
    assert first.exit_code == 0 and first.stdout.startswith(f"Updated {agents} (1 memories")
    text = agents.read_text()
    assert text.startswith(before + START) and text.endswith(END + after)
    assert "- Always use pnpm (" in text and "stale" not in text
    mtime = agents.stat().st_mtime_ns
    second = runner.invoke(
        app, ["--vault", str(vault), "context", "-u", "ray", "--write", str(agents)], catch_exceptions=False
    )
    assert second.stdout.startswith(f"Unchanged: {agents}")
    assert agents.read_text() == text and agents.stat().st_mtime_ns == mtime


def test_write_creates_the_file_and_refuses_a_broken_one(vault: Path, tmp_path: Path) -> None:
    Memory(vault=vault).add("Always use pnpm", infer=False)
    runner = CliRunner()
    fresh = tmp_path / "CLAUDE.md"
    assert runner.invoke(app, ["--vault", str(vault), "context", "--write", str(fresh)]).exit_code == 0
    assert fresh.read_text().startswith(START) and fresh.read_text().endswith(END + "\n")
    broken = tmp_path / "BROKEN.md"
    broken.write_text(f"keep me\n{START}\n")
    result = runner.invoke(app, ["--vault", str(vault), "context", "--write", str(broken)])
    assert result.exit_code == 1 and result.stderr.startswith("error: the file has a broken mem block")
    assert broken.read_text() == f"keep me\n{START}\n"
