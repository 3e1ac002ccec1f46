"""The vault's files: list, read, atomic write, the writer lock, ids and safe paths."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
import stat
import time
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

import filelock

from memcli.config import MARKER, MEMORIES_DIR, STATE_DIR, Settings
from memcli.errors import (
    ConflictError,
    IndexUnavailable,
    InvalidInputError,
    LockTimeoutError,
    ParseError,
    VaultError,
)

_SLUG_WORD = re.compile(r"[a-z0-9]+")
# What _write_temp names its files, exactly: a user's own `.notes.md.old.tmp` is not mem's to sweep.
_TEMP_NAME = re.compile(r"^\..+\.md\.mem-[0-9a-f]{12}\.tmp$")
WATCH_LOCK = "watch.lock"  # held by the one `mem watch` of a vault
STRAY_TEMP_AGE_S = 60.0  # a writer finishes in well under a minute; an older temp file is a leftover
MARKER_TEXT = """\
# This file marks the folder as a mem vault: every .md file in it is a memory or a note.
# Settings for this vault go here; derived state lives in .mem/ and is never committed.
version = 1
"""


def is_note_path(relpath: str) -> bool:
    """A file mem indexes: a .md file, with no hidden part in its path (.mem/, .git/, dotfiles,
    editors' temp files such as `.name.md.swp` or `.#name.md`)."""
    parts = relpath.split("/")
    return not any(part.startswith(".") for part in parts) and parts[-1].lower().endswith(".md")


def new_id() -> str:
    """A short random id: 'm-' and 10 hex digits (40 bits)."""
    return "m-" + secrets.token_hex(5)


def slug(text: str, max_len: int = 48) -> str:
    """A file-name-safe summary of the text: ascii words joined by '-'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words, length = [], 0
    for word in _SLUG_WORD.findall(folded):
        if length + len(word) + 1 > max_len:
            break
        words.append(word)
        length += len(word) + 1
    return "-".join(words) or "memory"


@functools.lru_cache(maxsize=1)
def entity_file(name: str) -> str:
    """A file name for an entity note: its name, without characters that would leave the folder
    nor ones that hide or reorder it on screen (callers refuse such names; this is the backstop)."""
    safe = "".join(
        ch for ch in name if ch not in '/\\:*?"<>|' and unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp")
    )
    safe = safe.strip(" .")[:120]
    return f"{safe or 'entity'}.md"


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temp_name(target_name: str) -> str:
    """A name for a temp file beside `target_name` that only mem makes (see _TEMP_NAME), so the
    sweep of killed writers' leftovers can tell them from a person's files."""
    return f".{target_name}.mem-{secrets.token_hex(6)}.tmp"


def _new_temp(target: Path) -> tuple[int, str]:
    """An open, new, private (0600) temp file beside `target`: (fd, path)."""
    for _ in range(100):
        tmp = str(target.parent / temp_name(target.name))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp file name beside {target}")


def _write_temp(target: Path, text: str) -> Path:
    """A fsync'ed temp file beside `target` holding `text`, with the mode `target` has (or would get)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(target)
    try:
        # the temp file is made 0600; a vault file should get the mode of the file it replaces,
        # or what the user's umask gives a new file.
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Path(tmp)


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(target: Path, text: str) -> None:
    """Replace (or create) any file so that readers see the old bytes or the new, never half."""
    tmp = _write_temp(target, text)
    try:
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _sync_dir(target.parent)


def output_path(target: Path) -> Path:
    """The real file that writing `target` (an output the user named, outside any vault) should
    replace: a symlink is followed to the file it names, so `CLAUDE.md -> AGENTS.md` stays one
    file. Anything that exists but is not a regular file is refused: renaming over a FIFO or a
    device replaces it (as root, /dev/null), and reading one to keep its text would hang."""
    try:
        real = target.resolve()
        info = real.stat()
    except FileNotFoundError:
        return real  # a new file, or a symlink to one not made yet
    except (OSError, RuntimeError) as err:  # a symlink loop, a folder mem cannot enter
        reason = getattr(err, "strerror", None) or "a symlink loop"
        raise InvalidInputError(f"cannot write {target}: {reason}; nothing was written") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, socket or device)"
        raise InvalidInputError(f"refusing to write {target}: it is {kind}; name a regular file, or - for stdout")
    return real


def write_output(target: Path, text: str) -> Path:
    """Write an output file the user named (`mem context --write`, `mem export -o`) atomically,
    through symlinks to the real file, refusing anything that is not a regular file (see
    output_path). Returns the real path written."""
    real = output_path(target)
    try:
        write_atomically(real, text)
    except OSError as err:
        raise InvalidInputError(f"cannot write {target}: {err.strerror or err}; nothing was written") from None
    return real


@contextlib.contextmanager
def no_watcher(state_dir: Path, wait: float = 0.0) -> Iterator[bool]:
    """True when no `mem watch` runs for the vault of this state folder (its watch lock was free
    within `wait` seconds), and then none can start until the block ends."""
    lock = filelock.FileLock(str(state_dir / WATCH_LOCK), timeout=wait)
    try:
        lock.acquire()
    except (filelock.Timeout, OSError):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


class Vault:
    """A folder of markdown files. Paths given to and returned by it are inside the root."""

    def __init__(self, settings: Settings) -> None:
        self.stray_temps: list[str] = []  # temp files the last listing() saw
        self.skipped: list[tuple[str, str]] = []  # (path, why) of entries the last listing() passed over
        self._writer_lock: filelock.FileLock | None = None
        self.root = settings.vault
        self.max_file_bytes = settings.max_file_bytes
        self.lock_timeout = settings.lock_timeout

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def memories_dir(self) -> Path:
        return self.root / MEMORIES_DIR

    def exists(self) -> bool:
        return self.root.is_dir()

    def is_vault(self) -> bool:
        """A folder with the marker (mem.toml): only then does mem keep state in it (.mem/)."""
        return (self.root / MARKER).is_file()

    def ensure(self) -> bool:
        """Create the vault's folders and marker if missing. True when anything was created."""
        if self.root.exists() and not self.root.is_dir():
            raise VaultError(f"vault path {self.root} is a file, not a folder")
        created = not (self.root / MARKER).exists()
        try:
            self.memories_dir.mkdir(parents=True, exist_ok=True)
            self.ensure_state()
            if created:
                self.create(MARKER, MARKER_TEXT)
        except FileExistsError:
            pass  # another process made the marker first
        except OSError as err:
            raise VaultError(f"cannot create the vault at {self.root}: {err.strerror}") from None
        return created

    def ensure_state(self) -> None:
        """Create .mem/ (with a .gitignore that keeps it out of git); OSError if not writable."""
        self.state_dir.mkdir(exist_ok=True)
        ignore = self.state_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# derived state of mem; never commit it\n*\n", encoding="utf-8")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise writers of this vault (a lock file under .mem/). Refused while git is in the
        middle of a rebase or merge: a commit then would land on a temporary HEAD that an abort drops."""
        self._refuse_mid_git()
        self.ensure()
        if self._writer_lock is None:
            # One lock object per Vault: filelock counts re-entries, so a locked section may call
            # code that locks again (a search inside `update` sweeping temp files).
            self._writer_lock = filelock.FileLock(str(self.state_dir / "lock"), timeout=self.lock_timeout)
        try:
            self._writer_lock.acquire()
        except filelock.Timeout:
            raise LockTimeoutError(
                f"another mem process held the vault lock for {self.lock_timeout:.0f}s; try again"
            ) from None
        except OSError as err:  # a read-only .mem/: nothing is written without the lock
            raise VaultError(
                f"cannot take the vault's write lock in {self.state_dir}: {err.strerror or err}; "
                "make that folder writable (nothing was written)"
            ) from None
        try:
            yield
        finally:
            self._writer_lock.release()

    def _refuse_mid_git(self) -> None:
        git_dir = self.root / ".git"
        for name, doing in (("rebase-merge", "rebase"), ("rebase-apply", "rebase"), ("MERGE_HEAD", "merge")):
            if (git_dir / name).exists():
                raise VaultError(
                    f"a git {doing} is in progress in {self.root}; finish it (resolve, then `git {doing} --continue`)"
                    f" or abort it (`git {doing} --abort`), then write again"
                )

    def sweep_temps(self, relpaths: Iterable[str]) -> list[str]:
        """Remove writers' temp files left by a killed process (older than a minute), under the
        writer lock, so no live write can lose its temp file. Returns what was removed."""
        removed = []
        with self.lock():
            for relpath in relpaths:
                path = self.root / relpath
                try:
                    if time.time() - path.lstat().st_mtime > STRAY_TEMP_AGE_S:
                        path.unlink()
                        removed.append(relpath)
                except OSError:
                    continue
        return removed

    def stat_paths(self, relpaths: Iterable[str]) -> list[tuple[str, int, int]]:
        """(relpath, size, mtime_ns) of those of the given .md files that exist, sorted."""
        found = []
        for relpath in relpaths:
            try:
                info = self.path(relpath).stat()
            except (OSError, InvalidInputError):
                continue
            found.append((relpath, info.st_size, info.st_mtime_ns))
        return sorted(found)

    @contextlib.contextmanager
    def index_lock(self) -> Iterator[None]:
        """Serialise writers of the index under .mem/ (separate from the files' lock)."""
        lock = filelock.FileLock(str(self.state_dir / "index.lock"), timeout=max(self.lock_timeout, 600))
        try:
            lock.acquire()
        except filelock.Timeout:
            raise LockTimeoutError("another mem process is still updating the index; try again") from None
        except OSError as err:
            raise IndexUnavailable(
                f"cannot lock the search index in {self.state_dir}: {err.strerror or err}; make that folder writable"
            ) from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def watch_lock(self) -> Iterator[None]:
        """Held by the one `mem watch` of this vault; a second one is refused at once."""
        self.ensure_state()
        lock = filelock.FileLock(str(self.state_dir / WATCH_LOCK), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise VaultError(f"another `mem watch` is already running for {self.root}") from None
        try:
            yield
        finally:
            lock.release()

    # -- paths ------------------------------------------------------------------------------

    def path(self, relpath: str) -> Path:
        """The absolute path of a vault-relative path, refusing anything that leaves the vault."""
        if "\x00" in relpath or os.path.isabs(relpath) or ".." in Path(relpath).parts:
            raise InvalidInputError(f"refusing path {relpath[:80]!r}: it must stay inside the vault")
        full = self.root / relpath
        if not self._inside(full):
            raise InvalidInputError(f"refusing path {relpath[:80]!r}: it leads outside the vault")
        return full

    def _inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.root.resolve())
        except (ValueError, RuntimeError, OSError):  # outside, or a symlink loop
            return False
        return True

    def relpath(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def listing(self) -> list[tuple[str, int, int]]:
        """(relpath, size, mtime_ns) of every .md file, sorted; hidden folders (.mem, .git) skipped.

        One stat per file (os.scandir), so checking a 10k-file vault for changes is cheap.
        Symlinks are followed only when they stay inside the vault; what is passed over (a symlink
        out or in a loop, a FIFO or device named *.md) is kept in `skipped` for `mem doctor`.
        """
        found: list[tuple[str, int, int]] = []
        self.stray_temps = []
        self.skipped = []
        if not self.root.is_dir():
            return found
        pending = [(self.root, "")]
        while pending:
            folder, prefix = pending.pop()
            # Entries one at a time, not list(scandir): at 100k files a list of DirEntry objects
            # with their cached stats is ~60 MB held at once.
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        try:
                            self._visit(entry, prefix, pending, found)
                        except OSError:
                            continue
            except OSError:
                continue
        found.sort()
        return found

    def _visit(
        self,
        entry: os.DirEntry[str],
        prefix: str,
        pending: list[tuple[Path, str]],
        found: list[tuple[str, int, int]],
    ) -> None:
        """One directory entry of the walk: a folder to walk, a note to list, or something to pass over."""
        relpath = f"{prefix}{entry.name}"
        if entry.name.startswith("."):
            if _TEMP_NAME.match(entry.name):  # a writer's temp file (see _write_temp)
                self.stray_temps.append(relpath)
            return
        if entry.is_symlink() and not self._inside(Path(entry.path)):
            self.skipped.append((relpath, "a symlink that leaves the vault or loops"))
        elif entry.is_dir():
            if not entry.is_symlink():
                pending.append((Path(entry.path), f"{relpath}/"))
        elif is_note_path(entry.name) and not entry.is_file():  # opening a FIFO would hang every read
            self.skipped.append((relpath, "not a regular file (a FIFO, socket or device)"))
        elif is_note_path(entry.name):
            info = entry.stat()
            found.append((relpath, info.st_size, info.st_mtime_ns))

    # -- reading ----------------------------------------------------------------------------

    def read(self, path: Path) -> tuple[str, str]:
        """(text, sha256 of the bytes). Raises ParseError for files mem will not read."""
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):  # opening a FIFO would block
                raise ParseError("not a regular file (a FIFO, socket or device); skipped")
            size = info.st_size
            if size > self.max_file_bytes:
                raise ParseError(f"file is {size:,} bytes, over the {self.max_file_bytes:,}-byte limit; skipped")
            data = path.read_bytes()
        except OSError as err:
            raise ParseError(f"cannot read the file: {err.strerror}") from None
        if b"\x00" in data:
            raise ParseError("file contains NUL bytes (not a text file); skipped")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ParseError(f"file is not UTF-8 text (bad byte at offset {err.start}); skipped") from None
        return text, sha256(data)

    # -- writing (callers hold the lock) -------------------------------------------------------

    @contextlib.contextmanager
    def _io(self, path: Path, doing: str) -> Iterator[None]:
        """An OS error while writing becomes one clear line; the old file is untouched."""
        try:
            yield
        except FileExistsError:
            raise
        except OSError as err:
            raise VaultError(
                f"could not {doing} {self.relpath(path)}: {err.strerror or err}; nothing was changed"
            ) from None

    def check_size(self, path: Path, text: str) -> None:
        """Nothing mem writes may be a file it then refuses to read."""
        size = len(text.encode("utf-8"))
        if size > self.max_file_bytes:
            raise VaultError(
                f"{self.relpath(path)} would be {size:,} bytes, over the {self.max_file_bytes:,}-byte limit mem reads; "
                "nothing was changed"
            )

    def create(self, relpath: str, text: str) -> Path:
        """Write a new file atomically; never overwrites an existing one (FileExistsError)."""
        target = self.path(relpath)
        self.check_size(target, text)
        with self._io(target, "write"):
            return self._create(target, text)

    def _create(self, target: Path, text: str) -> Path:
        tmp = _write_temp(target, text)
        try:
            try:
                os.link(tmp, target)  # atomic, and fails if the name is taken
            except FileExistsError:
                raise
            except OSError:
                # Filesystems without hard links: we hold the writer lock, so check-then-replace
                # only races with non-mem writers.
                if target.exists():
                    raise FileExistsError(str(target)) from None
                os.replace(tmp, target)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _sync_dir(target.parent)
        return target

    def _check_unchanged(self, path: Path, expected_sha: str) -> None:
        try:
            current = sha256(path.read_bytes())
        except FileNotFoundError:
            raise ConflictError(f"{self.relpath(path)} was deleted while mem was editing it; nothing written") from None
        if current != expected_sha:
            raise ConflictError(
                f"{self.relpath(path)} changed on disk while mem was editing it; nothing written, try again"
            )

    def replace(self, path: Path, text: str, expected_sha: str) -> None:
        """Atomically replace a file, only if its bytes still hash to `expected_sha`."""
        self.check_size(path, text)
        with self._io(path, "write"):
            tmp = _write_temp(path, text)
            try:
                self._check_unchanged(path, expected_sha)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            _sync_dir(path.parent)

    def remove(self, path: Path, expected_sha: str) -> None:
        """Delete a file, only if it is unchanged since it was read."""
        with self._io(path, "remove"):
            self._check_unchanged(path, expected_sha)
            path.unlink()
            _sync_dir(path.parent)
