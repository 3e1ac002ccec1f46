"""The warm query path: `mem watch` answers CLI calls over .mem/serve.sock. Every read command run
both ways gives the same output; each fault (a stale socket, another user's socket, a daemon that
hangs, dies or moves, a request too large, a client that leaves, two daemons) still gets an
answer in time, and nothing is written twice."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import running_watch
from typer.core import TyperArgument, TyperOption
from typer.main import get_command
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli import front, remote
from memcli.cli.commands import app
from memcli.config import load_settings
from memcli.serve import LIMITS, PROTOCOL, Limits, LineReader, encode, settings_key, short_address, socket_path
from memcli.watch import Watcher

runner = CliRunner()


def mem_cli(vault: Path, *args: str, env: dict[str, str] | None = None):  # noqa: ANN201 - click's Result
    return runner.invoke(app, ["--vault", str(vault), *args], env=env, catch_exceptions=False)


def seed(vault: Path) -> dict[str, str]:
    m = Memory(vault=vault)
    ids = {
        "pnpm": m.add("prefers pnpm over npm", user_id="ray", infer=False)["results"][0]["id"],
        "ghent": m.add("lives in Ghent", user_id="ray", infer=False, metadata={"src": "chat"})["results"][0]["id"],
        "falcon": m.add("works on [[Project Falcon]] with Ana", user_id="ana", infer=False)["results"][0]["id"],
    }
    ids["yarn"] = m.add("uses yarn at work now", user_id="ray", replaces=[ids["pnpm"]])["results"][0]["id"]
    (vault / "notes").mkdir(exist_ok=True)
    (vault / "notes" / "Deploy.md").write_text("# Deploy\n\nWe deploy with pnpm on Fridays.\n", encoding="utf-8")
    return ids


def memory_files(vault: Path) -> list[str]:
    return sorted(p.name for p in (vault / "memories").glob("*.md"))


@pytest.fixture
def main_log() -> Iterator[list[str]]:
    """Log lines of the library as this (the CLI's) thread emits them: in-process, or sent back
    by the daemon and logged again here."""
    lines: list[str] = []
    main = threading.get_ident()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == main:
                lines.append(f"{record.levelname} {record.getMessage()}")

    handler = Collect()
    logging.getLogger("memcli").addHandler(handler)
    yield lines
    logging.getLogger("memcli").removeHandler(handler)


# -- the same output either way ------------------------------------------------------------------

READS = [
    ["search", "pnpm"],
    ["search", "pnpm", "--json"],
    ["search", "package manager", "-u", "ray", "--explain", "--json"],
    ["search", "pnpm", "--all", "-k", "2"],
    ["search", "Ghent", "--as-of", "2020-01-01", "--json"],
    ["search", "what do you remember", "--json"],
    ["search", "pnpm", "--as-of", "not a date"],
    ["get", "{pnpm}"],
    ["get", "{ghent}", "--json"],
    ["get", "m-0000000000"],
    ["get", "not an id"],
    ["list"],
    ["list", "--json", "--all"],
    ["list", "-u", "ray", "-k", "1"],
    ["context"],
    ["context", "-u", "ray", "--json"],
    ["context", "-q", "pnpm", "--budget", "60"],
    ["context", "--budget", "10"],
]


def in_process(vault: Path, args: list[str], main_log: list[str]) -> tuple[list[str], Any, list[str]]:
    """The seeded vault's command line (ids filled in), its in-process result and log lines; the
    log is cleared for the served run that follows."""
    ids = seed(vault)
    args = [a.format(**ids) for a in args]
    main_log.clear()
    cold = mem_cli(vault, *args, env={"MEM_DAEMON": "off"})
    cold_log, main_log[:] = list(main_log), []
    return args, cold, cold_log


@pytest.mark.parametrize("args", READS, ids=lambda args: " ".join(args))
def test_every_read_command_prints_the_same_served_or_in_process(
    vault: Path, serving: Watcher, main_log: list[str], args: list[str]
) -> None:
    args, cold, cold_log = in_process(vault, args, main_log)
    assert serving.server is not None
    before = serving.server.served
    warm = mem_cli(vault, *args)
    assert (warm.exit_code, warm.stdout, warm.stderr, main_log) == (cold.exit_code, cold.stdout, cold.stderr, cold_log)
    assert serving.server.served == before + 1  # the daemon answered: not a silent fallback


def test_add_through_the_daemon_writes_once_and_is_found_at_once(vault: Path, serving: Watcher) -> None:
    assert serving.server is not None
    added = mem_cli(vault, "add", "prefers pnpm over npm", "-u", "ray", "--json")
    assert added.exit_code == 0, added.stderr
    (item,) = json.loads(added.stdout)["results"]
    assert item["event"] == "ADD" and serving.server.served == 1
    assert len(memory_files(vault)) == 1
    found = json.loads(mem_cli(vault, "search", "pnpm", "--json").stdout)["results"]
    assert [r["id"] for r in found] == [item["id"]]
    assert mem_cli(vault, "add", "prefers pnpm over npm", "-u", "ray").stdout.startswith(f"Already known {item['id']}")
    assert len(memory_files(vault)) == 1


def test_an_add_the_library_refuses_is_refused_the_same_way(vault: Path, serving: Watcher) -> None:
    secret = "my key is AKIAIOSFODNN7EXAMPLE"
    cold = mem_cli(vault, "add", secret, "--no-infer", env={"MEM_DAEMON": "off"})
    warm = mem_cli(vault, "add", secret, "--no-infer")
    assert (warm.exit_code, warm.stderr) == (cold.exit_code, cold.stderr) and warm.exit_code == 1
    assert memory_files(vault) == []


def test_settings_that_differ_from_the_daemons_are_answered_in_process(vault: Path, serving: Watcher) -> None:
    seed(vault)
    assert serving.server is not None
    cold = mem_cli(vault, "search", "pnpm", "--json", env={"MEM_DAEMON": "off", "MEM_GRAPH_HOPS": "0"})
    warm = mem_cli(vault, "search", "pnpm", "--json", env={"MEM_GRAPH_HOPS": "0"})
    assert warm.stdout == cold.stdout and serving.server.served == 0


def test_watch_status_says_whether_it_serves(vault: Path) -> None:
    Memory(vault=vault).init()
    idle = mem_cli(vault, "watch", "--status")
    assert idle.exit_code == 1
    assert (
        idle.stdout
        == f"No mem watch serves {vault} (no mem watch is running for this vault); CLI commands run in-process.\n"
    )
    with running_watch(vault) as watcher:
        mem_cli(vault, "list")
        shown = json.loads(mem_cli(vault, "watch", "--status", "--json").stdout)
        assert shown["serving"] is True and shown["pid"] == os.getpid() and shown["served"] == 1
        assert shown["socket"] == str(socket_path(vault / ".mem")) and watcher.server is not None
        line = mem_cli(vault, "watch", "--status").stdout
        assert line.startswith(f"mem watch (pid {os.getpid()}) serves {vault} since ")
    assert not socket_path(vault / ".mem").exists()  # a daemon that stops removes its socket


def test_the_socket_is_private_to_its_user(vault: Path, serving: Watcher) -> None:
    assert (socket_path(vault / ".mem").stat().st_mode & 0o777) == 0o600


def test_a_vault_path_too_long_for_a_unix_socket_is_served_all_the_same(tmp_path: Path) -> None:
    vault = tmp_path / ("deep-" * 20) / "vault"
    assert len(str(socket_path(vault / ".mem"))) > 108
    with running_watch(vault) as watcher:
        seed(vault)
        assert mem_cli(vault, "list", "--json").exit_code == 0
        assert watcher.server is not None and watcher.server.served == 1


# -- faults ----------------------------------------------------------------------------------------


def test_a_socket_left_by_a_dead_daemon_is_removed_and_the_cli_answers(vault: Path) -> None:
    ids = seed(vault)
    path = socket_path(vault / ".mem")
    with socket.socket(socket.AF_UNIX) as dead, short_address(path) as address:
        dead.bind(address)  # bound and closed, never listening again: what a killed daemon leaves
    found = mem_cli(vault, "search", "Ghent", "--json")
    assert found.exit_code == 0 and [r["id"] for r in json.loads(found.stdout)["results"]] == [ids["ghent"]]
    assert not path.exists()


def test_a_socket_of_a_starting_daemon_is_left_alone(vault: Path) -> None:
    """It holds the watch lock and will listen in a moment: the CLI answers, the file stays."""
    seed(vault)
    path = socket_path(vault / ".mem")
    with Memory(vault=vault).vault.watch_lock(), socket.socket(socket.AF_UNIX) as starting:
        with short_address(path) as address:
            starting.bind(address)
        assert mem_cli(vault, "list").exit_code == 0
        assert path.exists()


def test_a_daemon_of_another_user_is_not_asked(vault: Path, serving: Watcher, monkeypatch: pytest.MonkeyPatch) -> None:
    """The peer's uid is checked (SO_PEERCRED); another user's daemon could read memories or lie."""
    ids = seed(vault)
    monkeypatch.setattr(remote, "peer_uid", lambda sock: os.getuid() + 1)
    found = mem_cli(vault, "get", ids["ghent"], "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["id"] == ids["ghent"]
    assert serving.server is not None and serving.server.served == 0
    assert remote.ask(load_settings(vault), "search", ["x"], {}) is remote.UNSERVED


def test_a_client_of_another_user_gets_no_answer(
    vault: Path, serving: Watcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    import memcli.serve

    seed(vault)
    monkeypatch.setattr(memcli.serve, "peer_uid", lambda sock: os.getuid() + 1)
    added = mem_cli(vault, "add", "likes tea", "--no-infer")
    assert added.exit_code == 0 and len(memory_files(vault)) == 5  # in-process, once
    assert serving.server is not None and serving.server.served == 0


def raw_request(vault: Path, **fields: Any) -> dict[str, Any]:
    settings = load_settings(vault)
    return {"v": PROTOCOL, "id": "r1", "vault": str(settings.vault), "settings": settings_key(settings), **fields}


def connect(vault: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_address(socket_path(vault / ".mem")) as address:
        sock.connect(address)
    return sock


def test_a_request_larger_than_the_limit_is_refused_and_the_daemon_goes_on(vault: Path, serving: Watcher) -> None:
    seed(vault)
    assert remote.ask(load_settings(vault), "search", ["x" * 200], {}, Limits(max_request_bytes=100)) is remote.UNSERVED
    with connect(vault) as sock:
        sender = threading.Thread(
            target=lambda: _send_quietly(sock, b'{"v": 1, "pad": "' + b"x" * (LIMITS.max_request_bytes + 10))
        )
        sender.start()
        try:
            reply: dict[str, Any] | None = LineReader(sock).message(10)
        except ConnectionError:
            reply = None  # it may also just close
        sender.join(10)
    assert reply is None or "larger than" in reply["unserved"]
    assert serving.server is not None and mem_cli(vault, "list").exit_code == 0 and serving.server.served == 1


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(data)


def test_a_request_in_another_protocol_version_is_left_to_the_client(vault: Path, serving: Watcher) -> None:
    with connect(vault) as sock:
        sock.sendall(encode(raw_request(vault, v=PROTOCOL + 1, op="search", args=["x"], kwargs={})))
        reply = LineReader(sock).message(5)
    assert reply["id"] == "r1" and "protocol" in reply["unserved"]


@pytest.mark.parametrize("go", [None, {"v": PROTOCOL, "id": "another", "go": True}], ids=["leaves", "wrong id"])
def test_an_add_is_written_only_after_the_clients_go(vault: Path, serving: Watcher, go: dict[str, Any] | None) -> None:
    """A client that falls back before "go" (timed out, killed) must find nothing written."""
    Memory(vault=vault).init()
    with connect(vault) as sock:
        reader = LineReader(sock)
        sock.sendall(encode(raw_request(vault, op="add", args=["likes tea"], kwargs={"infer": False})))
        assert reader.message(5) == {"v": PROTOCOL, "id": "r1", "ready": True}
        if go is not None:
            sock.sendall(encode(go))
            with pytest.raises(ConnectionError):
                reader.message(5)  # closed without a word
    assert mem_cli(vault, "list", "--json").stdout == '{\n  "results": []\n}\n'  # and the lock is free again
    assert memory_files(vault) == []


@pytest.fixture
def silent(vault: Path) -> Iterator[list[bytes]]:
    """A "daemon" that accepts and never answers: what a hung one looks like to a client."""
    Memory(vault=vault).init()
    received: list[bytes] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with short_address(socket_path(vault / ".mem")) as address:
        listener.bind(address)
    listener.listen(4)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            conn.settimeout(5)
            with contextlib.suppress(OSError):
                received.append(conn.recv(65536))

    threading.Thread(target=accept, daemon=True).start()
    yield received
    listener.close()
    for conn in held:
        conn.close()


@pytest.mark.parametrize("op, args", [("search", ["tea"]), ("add", ["likes tea"])])
def test_a_daemon_that_never_answers_costs_at_most_its_timeout(
    vault: Path, silent: list[bytes], op: str, args: list[Any]
) -> None:
    started = time.monotonic()
    assert remote.ask(load_settings(vault), op, args, {}, Limits(answer_s=0.3)) is remote.UNSERVED
    assert time.monotonic() - started < 2.0
    assert len(silent) == 1 and silent[0].count(b"\n") == 1  # the request, and never a "go"


def test_the_cli_answers_a_hung_daemon_in_process(vault: Path, silent: list[bytes]) -> None:
    started = time.monotonic()
    added = mem_cli(vault, "add", "likes tea", "--no-infer")
    assert added.exit_code == 0 and len(memory_files(vault)) == 1
    assert time.monotonic() - started < LIMITS.connect_s + LIMITS.answer_s + 10  # its timeout, then the add


def test_a_vault_moved_while_served_is_answered_in_process(vault: Path, serving: Watcher, tmp_path: Path) -> None:
    ids = seed(vault)
    moved = tmp_path / "moved"
    vault.rename(moved)
    found = mem_cli(moved, "get", ids["ghent"], "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["path"].startswith("memories/")
    added = mem_cli(moved, "add", "likes tea", "--no-infer")
    assert added.exit_code == 0 and len(memory_files(moved)) == 5
    assert serving.server is not None and serving.server.served == 0


# -- separate processes: a real `mem watch`, killed; two at once -------------------------------------

STALLING_DAEMON = """
import sys, threading
from memcli import Memory
from memcli.serve import Server
from memcli.watch import Watcher

def stall(*args, **kwargs):
    print("stalled", flush=True)
    threading.Event().wait()

where = sys.argv[2]
if where == "check":
    Server._check = stall          # before the add's "ready": nothing written
else:
    setattr(Memory, where, stall)  # in the library call: a read, or an add after "go"
Watcher(Memory(vault=sys.argv[1]), serve=True, on_start=lambda: print("ready", flush=True)).run()
"""


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return lines


def mem_process(vault: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "memcli", "--vault", str(vault), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def stalling(vault: Path, request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str]]]:
    daemon = subprocess.Popen(
        [sys.executable, "-c", STALLING_DAEMON, str(vault), request.param],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines = lines_of(daemon)
    assert lines.get(timeout=60) == "ready"
    yield daemon, lines
    daemon.kill()
    daemon.wait(10)


def kill_when_stalled(daemon: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert lines.get(timeout=60) == "stalled"  # the request is inside the daemon now
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(10)


@pytest.mark.slow
@pytest.mark.parametrize("stalling", ["search"], indirect=True)
def test_a_daemon_killed_mid_search_still_gets_the_cli_an_answer(vault: Path, stalling: Any) -> None:
    ids = seed(vault)
    cli = mem_process(vault, "search", "Ghent", "--json")
    kill_when_stalled(*stalling)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert [r["id"] for r in json.loads(out)["results"]] == [ids["ghent"]]
    assert not socket_path(vault / ".mem").exists()  # the stale socket went with the fallback


@pytest.mark.slow
@pytest.mark.parametrize("stalling", ["check"], indirect=True)
def test_a_daemon_killed_before_an_add_starts_leaves_it_to_the_cli_once(vault: Path, stalling: Any) -> None:
    cli = mem_process(vault, "add", "likes tea", "--no-infer")
    kill_when_stalled(*stalling)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert out.startswith("Added m-") and len(memory_files(vault)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("stalling", ["add"], indirect=True)
def test_a_daemon_killed_during_an_add_is_said_and_never_written_twice(vault: Path, stalling: Any) -> None:
    cli = mem_process(vault, "add", "likes tea", "--no-infer")
    kill_when_stalled(*stalling)
    out, err = cli.communicate(timeout=60)
    assert (cli.returncode, out) == (1, "")
    assert err == f"error: {remote.MAYBE_SAVED}\n"
    assert memory_files(vault) == []  # this one died before its write; the CLI wrote nothing either
    again = mem_process(vault, "add", "likes tea", "--no-infer")
    assert again.communicate(timeout=60)[0].startswith("Added m-") and len(memory_files(vault)) == 1


@pytest.mark.slow
def test_two_daemons_started_at_once_one_serves_the_other_says_why(vault: Path) -> None:
    Memory(vault=vault).init()
    seed(vault)
    first, second = mem_process(vault, "watch"), mem_process(vault, "watch")
    try:
        outcomes: queue.Queue[tuple[subprocess.Popen[str], str]] = queue.Queue()
        for process in (first, second):
            threading.Thread(target=lambda p=process: outcomes.put((p, _first_word(p))), daemon=True).start()
        (one, said_one), (other, said_other) = outcomes.get(timeout=120), outcomes.get(timeout=120)
        winner, loser = (one, other) if said_one.startswith("Watching") else (other, one)
        assert {said_one[:8], said_other[:8]} == {"Watching", "error: a"}, (said_one, said_other)
        assert loser.wait(30) == 1
        shown = json.loads(mem_cli(vault, "watch", "--status", "--json").stdout)
        assert shown["pid"] == winner.pid
        assert mem_cli(vault, "list").exit_code == 0
        assert json.loads(mem_cli(vault, "watch", "--status", "--json").stdout)["served"] == 1
        winner.send_signal(signal.SIGTERM)  # how service managers stop it: it cleans up
        assert winner.wait(30) == 0
        assert not socket_path(vault / ".mem").exists()
    finally:
        for process in (first, second):
            process.kill()
            process.wait(10)


def _first_word(process: subprocess.Popen[str]) -> str:
    """What a `mem watch` says first: "Watching ..." on stdout, or its error on stderr."""
    assert process.stdout is not None and process.stderr is not None
    said: queue.Queue[str] = queue.Queue()
    for stream in (process.stdout, process.stderr):
        threading.Thread(target=lambda s=stream: said.put(s.readline().strip()), daemon=True).start()
    while True:
        line = said.get(timeout=120)
        if line and not line[0].isdigit():  # skip a batch's log line
            return line


def test_a_served_read_sees_a_change_the_watcher_was_told_of_but_has_not_indexed(vault: Path) -> None:
    """The daemon skips the stat of every file a new process makes: what the observer reported is
    indexed before the read instead, without waiting for the burst's quiet time."""
    Memory(vault=vault).init()
    with running_watch(vault) as watcher:
        watcher.quiet, watcher.longest = 600.0, 600.0  # a burst that would not end during this test
        (vault / "notes").mkdir()
        (vault / "notes" / "Tea.md").write_text("We drink oolong tea on Mondays.\n", encoding="utf-8")
        watcher.changes.put("notes/Tea.md")  # what the observer does for that write
        found = json.loads(mem_cli(vault, "search", "oolong", "--json").stdout)["results"]
        assert [r["path"] for r in found] == ["notes/Tea.md"]
        assert watcher.server is not None and watcher.server.served == 1


def test_a_watcher_that_does_not_serve_removes_a_socket_an_earlier_one_left(vault: Path) -> None:
    """Else every CLI call would find it, be refused, and wait on the watch lock this one holds."""
    Memory(vault=vault).init()
    path = socket_path(vault / ".mem")
    with socket.socket(socket.AF_UNIX) as dead, short_address(path) as address:
        dead.bind(address)
    started = threading.Event()
    watcher = Watcher(Memory(vault=vault), on_start=started.set, serve=False)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        assert started.wait(30)
        assert not path.exists()
    finally:
        watcher.stop()
        thread.join(30)


# -- the front door: a served call never imports typer -------------------------------------------


def front_door(vault: Path, *args: str) -> tuple[object, str, str]:
    """(exit code, stdout, stderr) of memcli.cli.front reading `mem --vault VAULT ARGS`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = front.answer(["--vault", str(vault), *args])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("draws", [True, False], ids=["the daemon draws", "the front door draws"])
@pytest.mark.parametrize("args", READS, ids=lambda args: " ".join(args))
def test_the_front_door_prints_what_the_typer_app_prints_in_process(
    vault: Path, main_log: list[str], args: list[str], draws: bool
) -> None:
    args, cold, cold_log = in_process(vault, args, main_log)
    with running_watch(vault, draws=draws) as watcher:
        assert watcher.server is not None
        code, out, err = front_door(vault, *args)
        assert watcher.server.served == 1  # answered by the daemon, not by typer after all
    assert (code, out, err, main_log) == (cold.exit_code, cold.stdout, cold.stderr, cold_log)


def test_the_daemon_draws_for_the_terminal_the_cli_measured(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Width, colours and box characters come from the client's terminal, not the daemon's."""
    seed(vault)
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    with running_watch(vault) as watcher:
        code, out, _ = front_door(vault, "list")
        assert watcher.server is not None and watcher.server.served == 1
    assert code == 0 and "\x1b[" in out  # coloured, as rich colours a forced terminal
    assert max(len(line) for line in re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines()) <= 60
    monkeypatch.setenv("COLUMNS", "120")
    with running_watch(vault):
        wide = front_door(vault, "list")[1]
    assert max(len(line) for line in re.sub(r"\x1b\[[0-9;]*m", "", wide).splitlines()) > 60


def test_an_add_through_the_front_door_is_written_once(vault: Path) -> None:
    with running_watch(vault) as watcher:
        code, out, err = front_door(vault, "add", "prefers pnpm over npm", "-u", "ray", "--tag", "tools")
        assert watcher.server is not None and watcher.server.served == 1
        again = front_door(vault, "add", "prefers pnpm over npm", "-u", "ray")
    assert (code, err) == (0, "") and out.startswith("Added m-") and out.rstrip().endswith("prefers pnpm over npm")
    assert len(memory_files(vault)) == 1 and again[1].startswith("Already known m-")
    assert Memory(vault=vault).get_all(user_id="ray")["results"][0]["tags"] == ["tools"]


def test_an_add_the_daemon_refuses_is_one_line_on_stderr(vault: Path) -> None:
    cold = mem_cli(vault, "add", "my key is AKIAIOSFODNN7EXAMPLE", "--no-infer", env={"MEM_DAEMON": "off"})
    with running_watch(vault):
        code, out, err = front_door(vault, "add", "my key is AKIAIOSFODNN7EXAMPLE", "--no-infer")
    assert (code, out, err) == (1, "", cold.stderr) and err.count("\n") == 1
    assert memory_files(vault) == []


def test_a_daemon_that_does_not_answer_the_front_door_is_asked_once_and_the_call_runs_here(
    vault: Path, silent: list[bytes], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(remote, "LIMITS", Limits(answer_s=0.3))
    monkeypatch.setattr(sys, "argv", ["mem", "--vault", str(vault), "add", "likes tea", "--no-infer"])
    with pytest.raises(SystemExit) as done:
        front.main()
    assert done.value.code == 0 and capsys.readouterr().out.startswith("Added m-")
    assert len(silent) == 1 and len(memory_files(vault)) == 1  # asked once; written once, in-process


def test_the_front_door_reads_each_option_as_the_typer_app_declares_it() -> None:
    """Same spellings, same kinds, same defaults; an option it does not read is typer's."""
    group = get_command(app)
    assert [p.opts for p in group.params] == [["--vault"]]  # the root options it reads
    not_read = {"search": set(), "get": set(), "list": set(), "context": {"--write"}, "add": {"--messages"}}
    for name, command in front.COMMANDS.items():
        declared = group.commands[name]  # type: ignore[attr-defined]
        arguments = [p.name for p in declared.params if isinstance(p, TyperArgument)]
        assert arguments == ([command.positional] if command.positional else []), name
        blank, seen = command.blank(), set()
        for param in (p for p in declared.params if isinstance(p, TyperOption)):
            kind = (
                front.FLAG
                if param.is_flag
                else front.MANY
                if param.multiple
                else front.INT
                if param.bare_type() == "int"
                else front.STR
            )
            for spelling in param.opts:
                if spelling in not_read[name]:
                    assert spelling not in command.options
                    continue
                seen.add(spelling)
                assert command.options[spelling] == (param.name, kind), (name, spelling)
                default = list(param.default) if isinstance(param.default, (list, tuple)) else param.default
                assert blank[param.name] == default, (name, spelling)
        assert seen == set(command.options), name


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["search"],
        ["search", "a", "b"],
        ["search", "tea", "--help"],
        ["search", "tea", "-uray"],
        ["search", "--", "-tea"],
        ["search", "tea", "-k", "ten"],
        ["search", "tea", "-k", "3.0"],
        ["search", "tea", "-u=ray"],
        ["search", "tea", "-k"],
        ["search", "tea", "-u", "-a"],
        ["search", "tea", "--json=yes"],
        ["search", "tea\udcff"],
        ["get", "--json"],
        ["list", "extra"],
        ["context", "--write", "AGENTS.md"],
        ["add", "-"],
        ["add", "x", "--messages", "chat.json"],
        ["search", "tea", "--vault", "elsewhere"],
        ["--vault"],
        ["watch"],
        ["forget", "m-1"],
    ],
    ids=lambda argv: " ".join(argv) or "(nothing)",
)
def test_command_lines_the_front_door_is_not_sure_of_are_left_to_typer(vault: Path, argv: list[str]) -> None:
    assert front_door(vault, *argv) == (None, "", "")


@pytest.mark.parametrize(
    "argv", [["add", "x", "--meta", "novalue"], ["search", " "], ["list", "-k", "0"], ["get", "m-0000000000"]]
)
def test_bad_input_through_the_front_door_is_the_typer_apps_one_line(vault: Path, argv: list[str]) -> None:
    Memory(vault=vault).init()
    typed = mem_cli(vault, *argv)
    assert front_door(vault, *argv) == (1, "", typed.stderr) and typed.exit_code == 1
    assert typed.stderr.startswith("error: ") and typed.stderr.count("\n") == 1 and memory_files(vault) == []


def test_the_front_door_reads_a_command_line_as_click_does() -> None:
    line = ["--vault=v", "search", "-u", "ann", "tea", "--user=ray", "-k", "3", "--all", "--as-of", "2026-01-01"]
    vault, name, values = front.read_argv(line)
    assert (vault, name) == ("v", "search")
    assert front.CALLS[name][1](values) == (
        ["tea"],
        {"user_id": "ray", "agent_id": None, "run_id": None, "limit": 3}
        | {"include_all": True, "explain": False, "as_of": "2026-01-01"},
    )
    _, _, added = front.read_argv(["add", "x", "--tag", "a", "--tag", "b", "--meta", "k=v=w", "--no-infer"])
    assert front.CALLS["add"][1](added)[1] | {} == {
        "user_id": None,
        "agent_id": None,
        "run_id": None,
        "metadata": {"k": "v=w"},
        "infer": False,
        "tags": ["a", "b"],
        "source": "cli",
        "redact": None,
        "timestamp": None,
        "replaces": None,
        "explain": False,
    }
