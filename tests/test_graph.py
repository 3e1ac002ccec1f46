"""The entity graph: the link parser, entity resolution, dangling links, graph-aware search,
relations in results, and the output formats."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli.commands import app
from memcli.graph.model import build, entity_key
from memcli.vault.links import hashtags, links

runner = CliRunner()


@pytest.mark.parametrize(
    "body, targets",
    [
        ("[[Entity]]", ["Entity"]),
        ("[[Entity|a label]]", ["Entity"]),
        ("[[Entity#Heading]] and [[Other#^block1]]", ["Entity", "Other"]),
        ("![[diagram.png]]", ["diagram.png"]),
        ("`[[in code]]` and [[real]]", ["real"]),
        ("```\n[[in a block]]\n```\nafter [[real]]", ["real"]),
        ("no links [not] [[", []),
        ("[[A]] [[B]] [[A]]", ["A", "B", "A"]),
    ],
)
def test_link_parser(body: str, targets: list[str]) -> None:
    assert [link["target"] for link in links(body)] == targets


def test_typed_relations_from_list_items_and_frontmatter() -> None:
    found = links(
        "- works_on [[Project Falcon]]\n* uses [[PostgreSQL]]\nplain [[Ana]]",
        {"relations": {"owned_by": "Ana", "tags_with": ["X", "Y"]}},
    )
    assert [(link["target"], link["relation"]) for link in found] == [
        ("Project Falcon", "works_on"),
        ("PostgreSQL", "uses"),
        ("Ana", None),
        ("Ana", "owned_by"),
        ("X", "tags_with"),
        ("Y", "tags_with"),
    ]


def test_hashtags() -> None:
    assert hashtags("# Title\nsome #tag and #a/b, not a#b, not `#code`, not &#39;") == ["tag", "a/b"]


@pytest.mark.parametrize(
    "left, right",
    [("Project Falcon", "project-falcon"), ("Project Falcon", "PROJECT_FALCON"), ("  Ana  ", "ana")],
)
def test_entity_keys_ignore_case_and_separators(left: str, right: str) -> None:
    assert entity_key(left) == entity_key(right)


def _vault_with_graph(vault: Path) -> Memory:
    mem = Memory(vault=vault)
    mem.init()
    (vault / "entities").mkdir()
    (vault / "entities" / "Project Falcon.md").write_text(
        "---\ntype: project\naliases: [Falcon, falcon-ingest]\n---\n# Project Falcon\n\n- uses [[PostgreSQL]]\n"
    )
    mem.add("[[Ana]] works on [[falcon]]", user_id="ray", infer=False)
    mem.add("[[project-falcon]] deploys on fridays", user_id="ray", infer=False)
    return mem


def test_resolution_honours_aliases_case_and_kebab_and_keeps_dangling_links(vault: Path) -> None:
    mem = _vault_with_graph(vault)
    rows = {row["name"]: row for row in mem.entities()["results"]}
    assert set(rows) == {"Project Falcon", "Ana", "PostgreSQL"}
    assert rows["Project Falcon"]["mentions"] == 2 and rows["Project Falcon"]["type"] == "project"
    assert rows["Ana"]["note"] is None and rows["PostgreSQL"]["note"] is None  # dangling: entities, no note
    listed = runner.invoke(app, ["--vault", str(vault), "entities"], catch_exceptions=False).stdout
    assert "Ana  1 link(s)  (no note)" in listed


def _multi_hop(vault: Path) -> Memory:
    mem = Memory(vault=vault)
    for text in [
        "[[Leontyne]] works on [[Project Marigold]].",
        "[[Project Thistle]] stores its data in [[MongoDB]].",
        "[[Project Bramble]] stores its data in [[Redis]].",
        "[[Project Marigold]] stores its data in [[CockroachDB]].",
        "[[Project Foxglove]] stores its data in [[SQLite]].",
        "[[Leontyne]] keeps dried mango in her desk drawer.",
    ]:
        mem.add(text, user_id="u", infer=False)
    return mem


def test_search_follows_links_to_answer_a_two_hop_question(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mem = _multi_hop(vault)
    top = [
        r["memory"] for r in mem.search("What database does Leontyne's project use?", user_id="u", limit=3)["results"]
    ]
    assert any("CockroachDB" in t for t in top)
    monkeypatch.setenv("MEM_GRAPH_HOPS", "0")
    without = [
        r["memory"]
        for r in Memory(vault=vault).search("What database does Leontyne's project use?", user_id="u", limit=3)[
            "results"
        ]
    ]
    assert not any("CockroachDB" in t for t in without)  # words alone do not get there


def test_links_do_not_lift_a_weak_match_over_a_direct_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real client's report: "package manager" on the sample vault put the Project Falcon note
    and the memories linked to it above the pnpm memories. Nothing matches those words and every
    cosine is weak (MiniLM: 0.27 at best), so nothing should spread along the Falcon links."""
    monkeypatch.setenv("MEM_EMBED_MODEL", "bundled")
    monkeypatch.setenv("MEM_EMBED_THREADS", "1")
    sample = tmp_path / "sample_vault"
    shutil.copytree(Path(__file__).resolve().parents[1] / "sample_vault", sample, ignore=shutil.ignore_patterns(".mem"))
    hits = Memory(vault=sample).search("package manager", user_id="ray", explain=True)["results"]
    pnpm = next(i for i, h in enumerate(hits) if h["memory"].startswith("Prefers pnpm"))
    assert all(h["explain"].get("graph", 0) == 0 for h in hits)  # weak matches lend nothing
    # what ranks above the pnpm memory got there by its own match, not along links
    assert all(h["explain"]["fused"] > hits[pnpm]["explain"]["fused"] for h in hits[:pnpm])


def test_graph_evidence_never_returns_to_its_lender() -> None:
    from memcli.graph.spread import spread
    from memcli.models import MemoryRecord

    def linked(i: str) -> MemoryRecord:
        return MemoryRecord(
            id=i, text=f"[[Falcon]] {i}", path=f"{i}.md", links=[{"target": "Falcon", "relation": None}]
        )

    records = [MemoryRecord(id="n", text="# Falcon", path="entities/Falcon.md", kind="note"), linked("a"), linked("b")]
    extra = spread(build(records), np.array([0.0, 1.0, 0.0]))
    assert extra[1] == 0  # a's evidence reaches b and the note, and does not come back to a through b
    assert extra[0] == extra[2] == pytest.approx(0.7)


def test_results_carry_relations_and_a_graph_signal(vault: Path) -> None:
    mem = _multi_hop(vault)
    result = mem.search("Leontyne", user_id="u", explain=True)
    assert {"source": "Leontyne", "relationship": "works_on", "target": "Project Marigold"} in result["relations"]
    linked = {r["memory"]: r["explain"].get("graph", 0) for r in result["results"]}
    assert linked["[[Project Marigold]] stores its data in [[CockroachDB]]."] > 0


def test_graph_formats(vault: Path) -> None:
    _vault_with_graph(vault)

    def show(*args: str) -> str:
        result = runner.invoke(app, ["--vault", str(vault), "graph", *args], catch_exceptions=False)
        assert result.exit_code == 0
        return result.stdout

    payload = json.loads(show("falcon-ingest", "--format", "json"))
    assert payload["root"] == "Project Falcon"
    assert {n["name"] for n in payload["nodes"]} == {"Project Falcon", "Ana", "PostgreSQL"}
    assert {"source": "Project Falcon", "relationship": "uses", "target": "PostgreSQL"} in payload["edges"]
    tree = show("project falcon")
    assert tree.splitlines()[0] == "Project Falcon" and "├── uses → PostgreSQL" in tree
    dot = show("--format", "dot")
    assert dot.startswith("graph mem {") and dot.rstrip().endswith("}")
    assert re.fullmatch(
        r'(?s)graph mem \{\n  node \[shape=box\];\n(  \w+ \[label="[^"]+"\];\n)+(  \w+ -- \w+ \[label="\w+"\];\n)*\}\n',
        dot,
    )
    mermaid = show("--format", "mermaid")
    assert re.fullmatch(r'graph LR\n(  \w+\["[^"]+"\]\n)+(  \w+ ---\|"\w+"\| \w+\n)*', mermaid)
    missing = runner.invoke(app, ["--vault", str(vault), "graph", "Nobody"])
    assert (missing.exit_code, missing.stderr) == (1, "error: no entity named 'Nobody'; see `mem entities`\n")


def test_build_is_pure_over_records() -> None:
    from memcli.models import MemoryRecord

    records = [
        MemoryRecord(id="a", text="x", path="memories/a.md", links=[{"target": "B", "relation": None}]),
        MemoryRecord(
            id="n",
            text="# B",
            path="entities/B.md",
            kind="note",
            title="B",
            aliases=["bee"],
            links=[{"target": "C", "relation": "likes"}],
        ),
    ]
    graph = build(records)
    assert graph.resolve("BEE") == "b" and graph.entities["b"].mentions == [0] and graph.entities["b"].note == 1
    assert graph.relations == [("b", "likes", "c", 1)]
    assert graph.neighbours("b") == {"c"}


def test_add_links_known_entities_unless_verbatim_or_switched_off(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mem = _vault_with_graph(vault)
    linked = mem.add("ana moved falcon-ingest to https://ana.example.com and `Ana` in code", user_id="ray")
    assert linked["results"][0]["memory"] == (
        "[[Ana|ana]] moved [[Project Falcon|falcon-ingest]] to https://ana.example.com and `Ana` in code"
    )
    verbatim = mem.add("ana again", user_id="ray", infer=False)
    assert verbatim["results"][0]["memory"] == "ana again"
    monkeypatch.setenv("MEM_AUTOLINK", "0")
    assert Memory(vault=vault).add("ana once more", user_id="ray")["results"][0]["memory"] == "ana once more"


def test_rename_rewrites_links_everywhere_after_a_preview(vault: Path) -> None:
    _vault_with_graph(vault)
    before = {p: p.read_bytes() for p in vault.rglob("*.md")}
    declined = runner.invoke(app, ["--vault", str(vault), "graph", "rename", "falcon", "Falcon Platform"], input="n\n")
    assert "Rename Project Falcon -> Falcon Platform: 2 link(s) in 2 file(s)." in declined.stdout
    assert declined.stdout.rstrip().endswith("Nothing changed.")
    assert {p: p.read_bytes() for p in vault.rglob("*.md")} == before
    done = runner.invoke(
        app, ["--vault", str(vault), "graph", "rename", "falcon", "Falcon Platform", "--yes"], catch_exceptions=False
    )
    assert done.stdout.rstrip().endswith("Renamed.")
    texts = sorted(r["memory"] for r in Memory(vault=vault).get_all()["results"] if r["path"].startswith("memories/"))
    assert texts == ["[[Ana]] works on [[Falcon Platform]]", "[[Falcon Platform]] deploys on fridays"]
    note = vault / "entities" / "Falcon Platform.md"
    assert note.exists() and not (vault / "entities" / "Project Falcon.md").exists()
    assert "Project Falcon" in note.read_text()  # kept as an alias
    rows = {row["name"]: row["mentions"] for row in Memory(vault=vault).entities()["results"]}
    assert rows["Falcon Platform"] == 2 and "Project Falcon" not in rows


def test_doctor_lists_dangling_links_as_entities_without_a_note(vault: Path) -> None:
    mem = _vault_with_graph(vault)
    report = mem.doctor()
    assert report["entities_without_note"] == ["Ana", "PostgreSQL"]
    assert report["problems"] == []  # not errors
    human = runner.invoke(app, ["--vault", str(vault), "doctor"], catch_exceptions=False).stdout
    assert "entities:      2 linked but with no note (fine): Ana, PostgreSQL" in human


def test_rename_leaves_links_shown_in_code_alone() -> None:
    from memcli.graph.rewrite import rename_links
    from memcli.models import MemoryRecord

    graph = build([MemoryRecord(id="a", text="", path="memories/a.md", links=[{"target": "Old", "relation": None}])])
    text = "see [[Old|the old one]] and [[old#Intro]], but `[[Old]]` is an example\n```\n[[Old]]\n```\n"
    renamed, count = rename_links(text, graph, "old", "New")
    assert count == 2
    assert renamed == "see [[New|the old one]] and [[New#Intro]], but `[[Old]]` is an example\n```\n[[Old]]\n```\n"
