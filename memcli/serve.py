"""The warm query path: a running `mem watch` answers `search`, `get`, `list`, `context` and `add`
for CLI processes over a unix socket in `.mem/`, through the same Memory methods (one pipeline).

The wire: one request per connection; each message is one line of UTF-8 JSON carrying the
protocol version `v` and the client's request `id`, which every answer repeats.

    client -> {"v", "id", "op", "args", "kwargs", "vault", "settings"[, "show": screen]}
    daemon -> {"v", "id", "ok": result[, "shown": text]} | {"v", "id", "error": {"type", "message"}}
            | {"v", "id", "unserved": why}           the client answers in-process instead
    add:    daemon -> {"v", "id", "ready": true}     the memory lock is held, nothing written yet
            client -> {"v", "id", "go": true}        only now may the daemon write
            daemon -> {"v", "id", "ok" | "error"}

Why `add` takes a second step: the client may give up and answer in-process only while the
daemon is sure not to write. Before "go" the daemon has written nothing, and without "go" (the
client timed out, died, or fell back) it never will. After sending "go" the client never falls
back: if the daemon dies then, it says the memory may or may not be saved, once.

"show": the CLI's front door (memcli.cli.front) asks for the result drawn as it would draw it
on its terminal (`screen`: what it measured of it); the daemon draws it with the hook `mem watch`
gave it (the CLI's render functions) and sends the text with the result. A daemon without the
hook, or whose drawing fails, sends the result alone and the client draws it.

Who may talk: the socket is 0600 and the daemon checks each peer's uid (SO_PEERCRED, Linux);
the client checks the daemon's the same way. Where the peer cannot be checked, nothing serves.
This module imports nothing heavy at module level: the CLI's client (memcli.cli.remote) uses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memcli.clock import iso, utc_now
from memcli.config import Settings
from memcli.errors import MemError

if TYPE_CHECKING:
    from memcli.memory import Memory

log = logging.getLogger(__name__)

PROTOCOL = 1
SOCKET_NAME = "serve.sock"
READS = frozenset({"search", "get", "get_all", "context"})
WRITES = frozenset({"add"})
STATUS = "status"
MAX_ADDRESS = 100  # AF_UNIX paths: 108 bytes on Linux, 104 on macOS, with the NUL


@dataclass(frozen=True)
class Limits:
    """The daemon's and the client's bounds; the client's waits outlast the daemon's own, so a
    busy daemon's "unserved" arrives before the client gives up on it."""

    max_request_bytes: int = 4 * 1024 * 1024  # an add of a long conversation; larger: in-process
    connect_s: float = 0.25  # a unix connect is immediate when someone listens
    request_s: float = 1.0  # the daemon's wait for a whole request line
    busy_s: float = 1.5  # the daemon's wait for the memory (the watcher may be indexing a burst)
    answer_s: float = 3.0  # the client's wait for a read's answer or an add's "ready"
    go_s: float = 1.0  # the daemon's wait for an add's "go" (the client is waiting on it)
    write_s: float = 120.0  # the client's wait for an add after "go": the lock's 30 s, the model
    connections: int = 8  # served at once; more are closed and answered in-process


LIMITS = Limits()


class TooLarge(ValueError):
    """A message longer than the limit."""


def socket_path(state_dir: Path) -> Path:
    return state_dir / SOCKET_NAME


def settings_key(settings: Settings) -> str:
    """What must match for the daemon's answer to be the one this process would give: every
    setting but where the vault is (checked by identity) and whether to ask the daemon at all."""
    fields = {k: v for k, v in asdict(settings).items() if k not in ("vault", "vault_source", "use_daemon")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def folder_identity(path: Path | str) -> tuple[int, int] | None:
    """(device, inode) of a folder: the same vault under another spelling, or moved, is told apart."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def can_check_peers() -> bool:
    return hasattr(socket, "SO_PEERCRED")


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a unix socket (SO_PEERCRED), or None."""
    if not can_check_peers():
        return None
    try:
        _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except OSError:
        return None
    return uid


@contextlib.contextmanager
def short_address(path: Path) -> Iterator[str]:
    """An address for bind/connect: the path itself, or when it is longer than AF_UNIX allows, the
    same file through /proc/self/fd of its folder (Linux). ValueError when neither works."""
    if len(os.fsencode(path)) < MAX_ADDRESS:
        yield str(path)
        return
    if not os.path.isdir("/proc/self/fd"):
        raise ValueError(f"the socket path {path} is too long for a unix socket")
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


class LineReader:
    """Reads newline-ended messages from a socket within a deadline and a length limit."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def message(self, seconds: float, limit: int | None = None) -> dict[str, Any]:
        """The next message as a dict. TimeoutError, ConnectionError (closed), TooLarge, ValueError."""
        deadline = time.monotonic() + seconds
        while b"\n" not in self.buffer:
            if limit is not None and len(self.buffer) > limit:
                raise TooLarge(f"a request larger than {limit} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no whole message in time")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the other end closed the connection")
            self.buffer += chunk
        end = self.buffer.index(b"\n")
        if limit is not None and end > limit:
            raise TooLarge(f"a request larger than {limit} bytes")
        line, self.buffer = bytes(self.buffer[:end]), self.buffer[end + 1 :]
        message = json.loads(line.decode("utf-8"))
        if not isinstance(message, dict):
            raise ValueError("a message is a JSON object")
        return message


class _Unserved(Exception):
    """This request is answered in-process by the client; the text says why (for --status, logs)."""


class _RequestLog(logging.Handler):
    """The library's log lines of one request (warnings such as "saved but not committed"), sent
    back so the CLI prints them as the in-process path would."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.thread = threading.get_ident()
        self.lines: list[list[Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append([record.name, record.levelno, record.getMessage()])


class Server:
    """Serves one Memory on `.mem/serve.sock` while `mem watch` runs (it holds the watch lock, so
    one daemon per vault). Every call on the Memory, the watcher's batches included, is made under
    `lock`: Memory is not shared between threads otherwise."""

    def __init__(
        self,
        memory: Memory,
        lock: threading.RLock,
        limits: Limits = LIMITS,
        before: Callable[[], None] | None = None,
        show: Callable[[dict[str, Any], Any], str] | None = None,
    ) -> None:
        """`before`: run ahead of each call, with `lock` held (the watcher indexes what it was told
        of and has not indexed yet). `show(screen, result)`: the result drawn for a client's
        screen (the CLI's renderer: this module knows nothing of how output looks)."""
        self.memory = memory
        self.show = show
        self.lock = lock
        self.before = before or (lambda: None)
        self.limits = limits
        self.root = memory.vault.root
        self.path = socket_path(memory.vault.state_dir)
        self.identity = folder_identity(self.root)
        self.key = settings_key(memory.settings)
        self.since = ""
        self.served = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(limits.connections)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket (replacing one a dead daemon left: the caller holds the watch lock) and
        start answering. OSError or ValueError when this vault cannot be served."""
        if not can_check_peers():
            raise ValueError("serving CLI queries needs SO_PEERCRED (Linux); the CLI runs in-process")
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with short_address(self.path) as address:
                mask = os.umask(0o177)  # born 0600: no moment when another user could connect
                try:
                    listener.bind(address)
                finally:
                    os.umask(mask)
            os.chmod(self.path, 0o600)
            listener.listen(16)
            listener.settimeout(0.25)  # accept() wakes up to notice stop()
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.since = iso(utc_now())
        self._thread = threading.Thread(target=self._accept_loop, name="mem-serve", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            if folder_identity(self.root) == self.identity:  # not a socket at a path we no longer own
                with contextlib.suppress(OSError):
                    self.path.unlink()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()  # too many at once: that client answers in-process
                continue
            threading.Thread(target=self._connection, args=(conn,), name="mem-serve-request", daemon=True).start()

    # -- one connection --------------------------------------------------------------------------

    def _connection(self, conn: socket.socket) -> None:
        try:
            with conn:
                if peer_uid(conn) != os.getuid():
                    return  # another user: not a word
                self._exchange(conn, LineReader(conn))
        except OSError:
            pass  # the client went away; it answers in-process (or, after "go", says so)
        finally:
            self._slots.release()

    def _exchange(self, conn: socket.socket, reader: LineReader) -> None:
        request_id: str | None = None
        try:
            request = reader.message(self.limits.request_s, self.limits.max_request_bytes)
            request_id = request.get("id") if isinstance(request.get("id"), str) else None
            op, args, kwargs = self._check(request)
            if op == STATUS:
                self._send(conn, self._reply(request_id, ok=self.status()))
                return
            if not self.lock.acquire(timeout=self.limits.busy_s):
                raise _Unserved("busy indexing")
            try:
                self._catch_up()
                if op in WRITES:
                    self._send(conn, self._reply(request_id, ready=True))
                    go = reader.message(self.limits.go_s)
                    if go.get("id") != request_id or go.get("go") is not True:
                        return  # no "go": nothing is written, the client answers for itself
                reply = self._call(request_id, op, args, kwargs)
            finally:
                self.lock.release()
            self._draw(reply, request.get("show"))
        except TooLarge as err:
            reply = self._reply(request_id, unserved=str(err))
        except _Unserved as err:
            reply = self._reply(request_id, unserved=str(err))
        except (TimeoutError, ConnectionError, ValueError):
            return  # a client that sent no whole request (or no "go") gets no answer
        self._send(conn, reply)

    def _draw(self, reply: dict[str, Any], screen: Any) -> None:
        """Add the result as the client asked to see it; when that fails, the client draws it."""
        if "ok" not in reply or not isinstance(screen, dict) or self.show is None:
            return
        try:
            reply["shown"] = self.show(screen, reply["ok"])
        except Exception as err:  # noqa: BLE001 - the result still goes back; the client draws it
            log.warning("mem watch: could not draw a %s for the CLI (%s)", screen.get("view"), type(err).__name__)

    def _send(self, conn: socket.socket, message: dict[str, Any]) -> None:
        conn.settimeout(self.limits.answer_s)  # not what the last read left: a big answer takes a while
        conn.sendall(encode(message))

    def _catch_up(self) -> None:
        """The watcher's changes, indexed before the call; nothing is written yet if it fails."""
        try:
            self.before()
        except Exception as err:  # noqa: BLE001 - a bug must not end the daemon
            log.exception("mem watch: unexpected %s while catching up", type(err).__name__)
            raise _Unserved(f"unexpected {type(err).__name__}") from None

    def _reply(self, request_id: str | None, **body: Any) -> dict[str, Any]:
        return {"v": PROTOCOL, "id": request_id, **body}

    def _check(self, request: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
        """The request's op and arguments, or _Unserved when this daemon's answer could differ
        from the client's own."""
        if request.get("v") != PROTOCOL:
            raise _Unserved(f"protocol {request.get('v')!r}; this mem watch speaks {PROTOCOL}")
        op, args, kwargs = request.get("op"), request.get("args", []), request.get("kwargs", {})
        if op == STATUS:
            return op, [], {}
        if op not in READS | WRITES or not isinstance(args, list) or not isinstance(kwargs, dict):
            raise _Unserved(f"not served: {op!r}")
        if folder_identity(self.root) != self.identity:
            raise _Unserved(f"the vault this mem watch serves ({self.root}) moved or is gone; restart mem watch")
        if folder_identity(str(request.get("vault"))) != self.identity:
            raise _Unserved("another vault")
        if request.get("settings") != self.key:
            raise _Unserved("settings differ from this mem watch's (MEM_* variables, config)")
        import inspect  # the daemon's side only: the CLI's client imports this module too

        try:
            inspect.signature(getattr(self.memory, op)).bind(*args, **kwargs)
        except TypeError as err:
            raise _Unserved(f"bad arguments: {err}") from None
        return op, args, kwargs

    def _call(self, request_id: str | None, op: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Run the Memory method as the in-process CLI would, with its log lines collected."""
        captured = _RequestLog()
        logger = logging.getLogger("memcli")
        logger.addHandler(captured)
        try:
            self.memory.reset_notices()  # a CLI process says its one-time notices every time
            result = getattr(self.memory, op)(*args, **kwargs)
        except MemError as err:
            self.served += 1
            return self._reply(request_id, error={"type": type(err).__name__, "message": str(err)}, log=captured.lines)
        except Exception as err:  # noqa: BLE001 - a bug must not end the daemon
            log.exception("mem watch: unexpected %s while serving %s", type(err).__name__, op)
            if op in READS:  # nothing written: the client runs it itself and reports it its own way
                return self._reply(request_id, unserved=f"unexpected {type(err).__name__}")
            return self._reply(
                request_id, error={"type": "unexpected", "message": type(err).__name__}, log=captured.lines
            )
        finally:
            logger.removeHandler(captured)
        self.served += 1
        return self._reply(request_id, ok=result, log=captured.lines)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "vault": str(self.root),
            "socket": str(self.path),
            "since": self.since,
            "served": self.served,
            "protocol": PROTOCOL,
        }
