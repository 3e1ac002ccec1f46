"""Bad files in the vault: reported, skipped, never rewritten; the rest keeps working."""

from __future__ import annotations

from pathlib import Path

import pytest

from memcli import Memory
from memcli.config import load_settings

BAD_FILES = {
    "broken-yaml.md": b"---\ntitle: [unclosed\n---\nrust notes\n",
    "bare-dashes.md": b"---\nrust never closed\n",
    "dupe-keys.md": b"---\na: 1\na: 2\n---\nrust\n",
    "latin1.md": "rust caf\xe9".encode("latin-1"),
    "nul.md": b"rust\x00bytes",
    "png.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "bad-id.md": b"---\nid: ../../etc\n---\nrust\n",
}


@pytest.fixture
def messy(tmp_path: Path) -> tuple[Memory, Path]:
    vault = tmp_path / "vault"
    mem = Memory(vault=vault, settings=load_settings(vault, env={"MEM_MAX_FILE_BYTES": "2000", "HOME": str(tmp_path)}))
    mem.add("rust is the language of Project Falcon", infer=False)
    for name, data in BAD_FILES.items():
        (vault / name).write_bytes(data)
    (vault / "huge.md").write_text("rust " * 1000)
    return mem, vault


def test_bad_files_are_skipped_by_search_and_reported_by_doctor(messy: tuple[Memory, Path]) -> None:
    mem, vault = messy
    hits = mem.search("rust")["results"]
    assert [h["memory"] for h in hits] == ["rust is the language of Project Falcon"]
    problems = {p["path"]: p["reason"] for p in mem.doctor()["problems"]}
    assert set(problems) == set(BAD_FILES) | {"huge.md"}
    assert problems["latin1.md"].startswith("file is not UTF-8 text")
    assert problems["nul.md"].startswith("file contains NUL bytes")
    assert problems["png.md"].startswith("file contains NUL bytes")
    assert problems["huge.md"] == "file is 5,000 bytes, over the 2,000-byte limit; skipped"
    assert problems["bare-dashes.md"].startswith("frontmatter starts with '---'")
    assert "duplicate key" in problems["dupe-keys.md"]
    assert "not a valid id" in problems["bad-id.md"]


def test_bad_files_are_never_rewritten(messy: tuple[Memory, Path]) -> None:
    mem, vault = messy
    memory_id = mem.get_all()["results"][0]["id"]
    mem.update(memory_id, "rust and go")
    mem.delete(memory_id)
    mem.doctor()
    for name, data in BAD_FILES.items():
        assert (vault / name).read_bytes() == data


def test_symlink_out_of_the_vault_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text("secret rust plans\n")
    vault = tmp_path / "vault"
    mem = Memory(vault=vault)
    mem.add("rust", infer=False)
    (vault / "link.md").symlink_to(outside)
    assert [h["path"] for h in mem.search("secret rust plans")["results"]] == [mem.get_all()["results"][0]["path"]]


def test_duplicate_ids_keep_the_first_and_report_the_copy(mem: Memory, vault: Path) -> None:
    memory_id = mem.add("original", infer=False)["results"][0]["id"]
    path = next((vault / "memories").glob("*.md"))
    (vault / "zz-copy.md").write_text(path.read_text())
    assert [h["path"] for h in mem.search("original")["results"]] == [path.relative_to(vault).as_posix()]
    (problem,) = mem.doctor()["problems"]
    assert problem["path"] == "zz-copy.md" and f"duplicate id {memory_id}" in problem["reason"]


def test_a_50_mb_file_is_skipped_without_being_read(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("small and fine", infer=False)
    with open(vault / "huge.md", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MB of zeros
    assert [h["memory"] for h in mem.search("small")["results"]] == ["small and fine"]
    (problem,) = mem.doctor()["problems"]
    assert problem == {"path": "huge.md", "reason": "file is 52,428,800 bytes, over the 1,000,000-byte limit; skipped"}
