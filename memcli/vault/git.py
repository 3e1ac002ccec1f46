"""The vault as a git repository: init, one commit per mem write, sync, a file's log.
The only module that runs git (a subprocess; git must be on PATH)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from memcli.errors import GitError

GITIGNORE = "# derived state of mem: never committed\n.mem/\n"
GITATTRIBUTES = "# memories are text; keep line endings the same on every machine\n*.md text eol=lf\n"


def available() -> bool:
    return shutil.which("git") is not None


def _run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if not available():
        raise GitError("git is not installed or not on PATH; install git to version the vault")
    # An identity for machines where none is configured, so commits never fail on it.
    identity = [] if _configured(root) else ["-c", "user.name=mem", "-c", "user.email=mem@localhost"]
    done = subprocess.run(["git", *identity, *args], cwd=root, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise GitError(f"git {args[0]} failed: {_last_line(done)}")
    return done


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    """The line that says what went wrong: git's last `error:`/`fatal:` line, else its last line
    that is not a `hint:` (the advice after an error is git's, not ours to print)."""
    lines = [line for line in (done.stderr or done.stdout or "").strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("error:", "fatal:"))]
    told = errors or [line for line in lines if not line.startswith("hint:")] or lines
    return told[-1][:300] if told else "(no output)"


def _configured(root: Path) -> bool:
    done = subprocess.run(["git", "config", "user.email"], cwd=root, capture_output=True, text=True)
    return done.returncode == 0 and bool(done.stdout.strip())


def is_repo(root: Path) -> bool:
    return (root / ".git").exists()


def init(root: Path) -> None:
    """Make the vault a repository with .gitignore / .gitattributes and a first commit."""
    if not is_repo(root):
        _run(root, "init", "-q")
    for name, text in ((".gitignore", GITIGNORE), (".gitattributes", GITATTRIBUTES)):
        path = root / name
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    _run(root, "add", "-A")
    if _run(root, "diff", "--cached", "--quiet", check=False).returncode != 0:
        _run(root, "commit", "-q", "-m", "mem: init vault")


def commit(root: Path, paths: list[str], message: str) -> bool:
    """Commit exactly these paths (added, changed or deleted); other changes stay uncommitted."""
    if not paths:
        return False
    _run(root, "add", "-A", "--", *paths)
    if _run(root, "diff", "--cached", "--quiet", "--", *paths, check=False).returncode == 0:
        return False
    _run(root, "commit", "-q", "-m", message, "--", *paths)
    return True


def commit_all(root: Path, message: str) -> bool:
    """Commit every change in the vault (hand edits, on request)."""
    _run(root, "add", "-A")
    if _run(root, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return False
    _run(root, "commit", "-q", "-m", message)
    return True


def log(root: Path, relpath: str) -> list[dict[str, str]]:
    """The commits that touched a file, newest first, following renames."""
    done = _run(root, "log", "--follow", "--format=%H%x09%aI%x09%s", "--", relpath, check=False)
    entries = []
    for line in done.stdout.splitlines():
        sha, when, subject = (line.split("\t", 2) + ["", ""])[:3]
        entries.append({"commit": sha[:12], "date": when, "message": subject})
    return entries


def sync(root: Path) -> dict[str, object]:
    """Pull with rebase, then push. Stops with a clear error on a conflict, leaving git's state
    for the person to settle (conflicted files are skipped by search and listed by doctor). A push
    rejected because another machine pushed in between is pulled and pushed once more."""
    if not is_repo(root):
        raise GitError("this vault is not a git repository; create one with `mem init PATH --git`")
    remotes = _run(root, "remote").stdout.split()
    if not remotes:
        raise GitError("the vault's repository has no remote; add one with `git remote add origin URL`")
    before = _run(root, "rev-parse", "HEAD").stdout.strip()
    for _attempt in range(2):
        _pull(root)
        pushed = _run(root, "push", "--porcelain", "-q", check=False)
        if pushed.returncode == 0:
            break
        refused = _refused(pushed)
        if refused is None:
            raise GitError(f"git push failed: {_last_line(pushed)}")
        if refused != "rejected":  # a hook, a protected branch: the remote said no, not "pull first"
            raise GitError(f"git push was refused by the remote: {refused}")
    else:
        raise GitError(
            "git push was rejected twice: another machine keeps pushing to the remote; "
            "your commits are safe here, run `mem sync` again"
        )
    after = _run(root, "rev-parse", "HEAD").stdout.strip()
    changed = _run(root, "diff", "--name-only", before, after).stdout.split() if before != after else []
    return {"pulled_files": changed, "pushed": True}


def _pull(root: Path) -> None:
    pulled = _run(root, "pull", "--rebase", "-q", check=False)
    if pulled.returncode != 0:
        conflicted = _run(root, "diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
        if conflicted:
            raise GitError(
                f"sync stopped: {', '.join(conflicted)} changed on both sides; edit the file(s) to keep the right "
                "text, then `git add` them, `git rebase --continue`, and `mem sync` again"
            )
        raise GitError(f"git pull failed: {_last_line(pulled)}")


def _refused(pushed: subprocess.CompletedProcess[str]) -> str | None:
    """Why `git push --porcelain` left a ref unpushed: "rejected" when the remote moved on (pull
    first), git's reason otherwise ("[remote rejected] (pre-receive hook declined)"); None when no
    ref was refused (the push failed before: no network, no access)."""
    for line in pushed.stdout.splitlines():
        fields = line.split("\t")
        if fields[0] == "!" and len(fields) >= 3:
            return "rejected" if fields[2].startswith("[rejected]") else fields[2][:300]
    return None
