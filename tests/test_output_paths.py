"""Output files the user names (`mem context --write`, `mem export -o`): written through symlinks
to the real file, never renamed over a FIFO, device or folder, `-` for stdout, CRLF kept."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli.commands import app
from memcli.interop.digest import END, START

runner = CliRunner()


def _invoke(*args: str) -> Result:
    """Run mem in a thread: without the fix, reading a FIFO blocks for ever."""
    done: list[Result] = []
    worker = threading.Thread(target=lambda: done.append(runner.invoke(app, list(args))), daemon=True)
    worker.start()
    worker.join(20)
    assert done, "mem hung on the output path"
    return done[0]


@pytest.fixture
def with_memory(vault: Path) -> Path:
    Memory(vault=vault).add("Always use pnpm", infer=False)
    return vault


def test_context_write_through_a_symlink_keeps_the_link_and_fills_its_target(with_memory: Path, tmp_path: Path) -> None:
    agents, claude = tmp_path / "AGENTS.md", tmp_path / "CLAUDE.md"
    agents.write_text("# Agents\n")
    claude.symlink_to("AGENTS.md")  # relative, as people make them
    result = _invoke("--vault", str(with_memory), "context", "--write", str(claude))
    assert result.exit_code == 0, result.output
    assert claude.is_symlink() and os.readlink(claude) == "AGENTS.md"
    assert agents.read_text().startswith(f"# Agents\n\n{START}\n") and "Always use pnpm" in agents.read_text()


def test_export_through_a_symlink_writes_the_real_file(with_memory: Path, tmp_path: Path) -> None:
    real = tmp_path / "backups" / "memories.jsonl"
    real.parent.mkdir()
    real.write_text("old\n")
    link = tmp_path / "latest.jsonl"
    link.symlink_to(real)
    result = _invoke("--vault", str(with_memory), "export", "-o", str(link))
    assert result.exit_code == 0 and result.stderr == f"Wrote {link}\n"
    assert link.is_symlink() and '"memory": "Always use pnpm"' in real.read_text()


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _device(path: Path) -> Path:
    """A null device of our own (root only): the case that replaced /dev/null, without touching it."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


@pytest.mark.parametrize("make", [_fifo, _folder, _device], ids=["fifo", "folder", "device"])
@pytest.mark.parametrize("command", [["context", "--write"], ["export", "-o"]], ids=["context", "export"])
def test_a_path_that_is_not_a_regular_file_is_refused_and_left_as_it_was(
    with_memory: Path, tmp_path: Path, make: object, command: list[str]
) -> None:
    target = make(tmp_path / "out.md")  # type: ignore[operator]
    kind = stat.S_IFMT(target.lstat().st_mode)
    result = _invoke("--vault", str(with_memory), *command, str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: refusing to write {target}: it is ")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("name a regular file, or - for stdout\n")
    assert stat.S_IFMT(target.lstat().st_mode) == kind  # still the FIFO / folder / device it was
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out.md")) == []  # no temp left


def test_export_to_dash_streams_to_stdout(with_memory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _invoke("--vault", str(with_memory), "export", "-o", "-")
    assert result.exit_code == 0 and '"memory": "Always use pnpm"' in result.stdout
    assert not (tmp_path / "-").exists()


def test_context_write_to_dash_prints_the_digest(
    with_memory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _invoke("--vault", str(with_memory), "context", "--write", "-")
    assert result.exit_code == 0 and result.stdout == _invoke("--vault", str(with_memory), "context").stdout
    assert "Always use pnpm" in result.stdout and not (tmp_path / "-").exists()


def test_context_write_keeps_crlf_line_endings(with_memory: Path, tmp_path: Path) -> None:
    agents = tmp_path / "AGENTS.md"
    before, after = b"# Agents\r\n\r\nRules.\r\n\r\n", b"\r\n## More\r\ntrailing\r\n"
    agents.write_bytes(before + f"{START}\r\nstale\r\n{END}".encode() + after)
    assert _invoke("--vault", str(with_memory), "context", "--write", str(agents)).exit_code == 0
    data = agents.read_bytes()
    assert data.startswith(before + START.encode() + b"\r\n") and data.endswith(END.encode() + after)
    assert b"Always use pnpm" in data and b"stale" not in data
    assert data.count(b"\n") == data.count(b"\r\n")  # no bare LF anywhere, the block included
    again = _invoke("--vault", str(with_memory), "context", "--write", str(agents))
    assert again.stdout.startswith(f"Unchanged: {agents}") and agents.read_bytes() == data


def test_context_write_appends_to_a_crlf_file_in_crlf(with_memory: Path, tmp_path: Path) -> None:
    agents = tmp_path / "AGENTS.md"
    agents.write_bytes(b"# Agents\r\n")
    assert _invoke("--vault", str(with_memory), "context", "--write", str(agents)).exit_code == 0
    data = agents.read_bytes()
    assert data.startswith(b"# Agents\r\n\r\n" + START.encode() + b"\r\n") and data.endswith(END.encode() + b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
