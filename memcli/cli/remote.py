"""The CLI's side of the warm query path: ask the `mem watch` serving this vault, if one answers
in time; otherwise say UNSERVED and the command runs in-process (same result, same output).

Imports only the standard library, mem's config, errors and wire format: a query the daemon
answers never loads the library, numpy or the model in this process.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any, Final

from memcli import errors
from memcli.config import STATE_DIR, Settings
from memcli.errors import MemError
from memcli.serve import (
    LIMITS,
    PROTOCOL,
    READS,
    STATUS,
    WRITES,
    Limits,
    LineReader,
    can_check_peers,
    encode,
    peer_uid,
    settings_key,
    short_address,
    socket_path,
)


class Unserved:
    def __repr__(self) -> str:
        return "UNSERVED"


UNSERVED: Final = Unserved()  # no daemon answered; run the call in-process
MAYBE_SAVED = (
    "mem watch stopped while saving this; it may or may not be saved: "
    "look with `mem list` (or `mem search`) before adding it again"
)


class Declined(Exception):
    """Why no daemon answered (said by `mem watch --status`; a command just runs in-process)."""


def ask(settings: Settings, op: str, args: list[Any], kwargs: dict[str, Any], limits: Limits = LIMITS) -> Any:
    """Memory.<op>(*args, **kwargs) as the daemon serving this vault answers it, or UNSERVED.
    A MemError the daemon's call raised is raised here, the same type with the same message."""
    reply = ask_shown(settings, op, args, kwargs, None, limits)
    return reply if reply is UNSERVED else reply[0]


def ask_shown(
    settings: Settings,
    op: str,
    args: list[Any],
    kwargs: dict[str, Any],
    screen: dict[str, Any] | None,
    limits: Limits | None = None,
) -> Any:
    """(result, text) as ask's, where text is the result drawn by the daemon on `screen` (what
    memcli.cli.front measured of this terminal), or None when it drew nothing; or UNSERVED."""
    if op not in READS | WRITES or not settings.use_daemon:
        return UNSERVED
    request = {"op": op, "args": args, "kwargs": kwargs, **({"show": screen} if screen is not None else {})}
    try:
        reply = _exchange(settings, request, limits or LIMITS)
    except Declined:
        return UNSERVED
    shown = reply.get("shown")
    return reply["ok"], shown if isinstance(shown, str) else None


def status(settings: Settings, limits: Limits = LIMITS) -> dict[str, Any]:
    """The serving daemon's pid, socket, start time and count of requests served; Declined (why
    not) when none serves this vault."""
    answer = _exchange(settings, {"op": STATUS}, limits)["ok"]
    if not isinstance(answer, dict):
        raise Declined("the daemon's status is not understood")
    return answer


def _exchange(settings: Settings, request: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The daemon's reply, with "ok" (the result) in it; Declined, or the call's MemError."""
    path = socket_path(settings.vault / STATE_DIR)
    if not can_check_peers():
        raise Declined("the CLI only talks to mem watch where it can check who is serving (Linux)")
    try:
        info = os.lstat(path)
    except OSError:
        raise Declined("no mem watch is running for this vault") from None
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise Declined(f"{path} is not a socket of this user's")
    request_id = os.urandom(8).hex()
    line = encode(
        {"v": PROTOCOL, "id": request_id, **request, "vault": str(settings.vault), "settings": settings_key(settings)}
    )
    if len(line) > limits.max_request_bytes:
        raise Declined("the request is larger than mem watch takes")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        _connect(sock, path, limits)
        reader = LineReader(sock)
        try:
            sock.sendall(line)
            reply = _reply(reader, request_id, limits.answer_s)
            if request["op"] in WRITES and reply.get("ready") is True:
                sock.sendall(encode({"v": PROTOCOL, "id": request_id, "go": True}))
        except (OSError, ValueError) as err:  # the daemon has written nothing: it never got "go"
            if isinstance(err, ConnectionError):  # it may have died: then its socket goes too
                _remove_stale(path)
            raise Declined(f"mem watch did not answer ({type(err).__name__})") from None
        if request["op"] in WRITES and reply.get("ready") is True:
            # "go" is sent: from here the daemon may have written, so this process never writes too.
            try:
                reply = _reply(reader, request_id, limits.write_s)
            except (OSError, ValueError) as err:
                if isinstance(err, ConnectionError):
                    _remove_stale(path)
                raise MemError(MAYBE_SAVED) from None
            try:
                return _result(reply)  # the library's own error (a refused secret) is raised as it is
            except Declined:
                raise MemError(MAYBE_SAVED) from None
    return _result(reply)


def _connect(sock: socket.socket, path: Path, limits: Limits) -> None:
    sock.settimeout(limits.connect_s)
    try:
        with short_address(path) as address:
            sock.connect(address)
    except ConnectionRefusedError:
        _remove_stale(path)
        raise Declined("a socket left by a mem watch that is gone (removed)") from None
    except (OSError, ValueError) as err:
        raise Declined(f"cannot connect to {path} ({type(err).__name__})") from None
    if peer_uid(sock) != os.getuid():
        raise Declined(f"{path} is served by another user's process; not talking to it")


def _remove_stale(path: Path) -> None:
    """Nobody listens on the socket: remove it, unless a `mem watch` holds the watch lock (it is
    starting and will listen in a moment, or replace the file itself)."""
    from memcli.vault.files import no_watcher  # filelock: only on this rare path

    # A daemon killed this instant closes its sockets a moment before the kernel frees its lock.
    with no_watcher(path.parent, wait=0.2) as nobody:
        if nobody:
            path.unlink(missing_ok=True)


def _reply(reader: LineReader, request_id: str, seconds: float) -> dict[str, Any]:
    reply = reader.message(seconds)
    if reply.get("v") != PROTOCOL or reply.get("id") != request_id:
        raise ValueError("an answer to another request, or in another protocol")
    return reply


def _result(reply: dict[str, Any]) -> dict[str, Any]:
    """The reply of a call that returned ("ok"), or its MemError raised again; the daemon's log
    lines are logged here, as the in-process call would have logged them."""
    for name, level, message in reply.get("log", []):
        logging.getLogger(str(name)).log(int(level), "%s", message)
    if "unserved" in reply:
        raise Declined(str(reply["unserved"]))
    if "error" in reply:
        kind, message = reply["error"].get("type"), str(reply["error"].get("message"))
        if kind == "unexpected":
            raise MemError(
                f"unexpected {message} in mem watch (its output shows where); "
                "the memory may or may not be saved: look with `mem list` before adding it again"
            )
        error_type = getattr(errors, str(kind), None)
        if isinstance(error_type, type) and issubclass(error_type, MemError):
            raise error_type(message)
        raise MemError(message)
    if "ok" not in reply:
        raise Declined("an answer without a result")
    return reply
