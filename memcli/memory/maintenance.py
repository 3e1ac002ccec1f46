"""Memory's housekeeping: init, git (commit per write, commit, sync, log), doctor and its fixes.
A mixin of Memory (service.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from memcli.config import MARKER, default_vault_path
from memcli.guard.outputs import looks_like_injection
from memcli.guard.secrets import scan as scan_secrets
from memcli.index.engine import log
from memcli.vault import git as gitrepo
from memcli.vault import markdown
from memcli.vault.files import write_atomically


class Upkeep:
    """Vault creation, versioning and health checks."""

    def init(self, *, git: bool = False) -> dict[str, Any]:
        """Create the vault's folders and marker (idempotent). With `git`, also a repository with
        .gitignore/.gitattributes, `[git] autocommit = true` in mem.toml, and a first commit."""
        if git and not gitrepo.available():
            raise gitrepo.GitError("git is not installed or not on PATH; install it, or run `mem init` without --git")
        created = self.vault.ensure()
        if git:
            marker = self.vault.root / MARKER
            text = marker.read_text(encoding="utf-8")
            if "[git]" not in text:
                write_atomically(marker, text.rstrip("\n") + "\n\n[git]\nautocommit = true\n")
            gitrepo.init(self.vault.root)
            self.settings = dataclasses.replace(self.settings, git_autocommit=True)
        return {"vault": str(self.vault.root), "created": created, "git": gitrepo.is_repo(self.vault.root)}

    def _autocommit(self, paths: list[str], message: str) -> None:
        """One commit for one write, under the writer lock; a missing git is a warning, not a failure."""
        if not self.settings.git_autocommit or not paths or not gitrepo.is_repo(self.vault.root):
            return
        try:
            gitrepo.commit(self.vault.root, paths, message)
        except gitrepo.GitError as err:
            log.warning("mem: the change is saved but not committed (%s)", err)

    def commit(self, message: str | None = None) -> dict[str, Any]:
        """Commit every change in the vault, hand edits included (`mem commit`)."""
        if not gitrepo.is_repo(self.vault.root):
            raise gitrepo.GitError("this vault is not a git repository; create one with `mem init PATH --git`")
        with self.vault.lock():
            done = gitrepo.commit_all(self.vault.root, message or "mem: commit hand edits")
        return {"committed": done}

    def sync(self) -> dict[str, Any]:
        """Pull (rebase) from the remote, index what came in, push. Stops on a conflict with a clear error."""
        with self.vault.lock():
            result = gitrepo.sync(self.vault.root)
        stats = self.reindex()
        return {**result, "indexed": {"changed": stats.changed, "removed": stats.removed}}

    def file_log(self, memory_id: str) -> list[dict[str, str]]:
        """The git commits of a memory's file, newest first ([] when the vault is not a repo)."""
        record = self._find(memory_id)
        return gitrepo.log(self.vault.root, record.path) if gitrepo.is_repo(self.vault.root) else []

    def relink_duplicates(self) -> list[dict[str, str]]:
        """Give each file whose id another file already has (a copy, a merge) an id of its own.
        The first file by path keeps the id. Returns [{"path", "old_id", "new_id"}]."""
        changed = []
        with self.vault.lock():
            for problem in self.scan()[1]:
                if not problem.reason.startswith("duplicate id "):
                    continue
                path = self.vault.path(problem.path)
                file_text, sha = self.vault.read(path)
                old_id, new = markdown.parse(file_text).meta.get("id"), self._unused_id()
                self.vault.replace(path, markdown.set_keys(file_text, {"id": new}), expected_sha=sha)
                changed.append({"path": problem.path, "old_id": str(old_id), "new_id": new})
            self._autocommit([c["path"] for c in changed], "mem: give copied files ids of their own")
        if changed:
            self.reindex(paths=[c["path"] for c in changed])
        return changed

    def doctor(self) -> dict[str, Any]:
        """Where the vault is, what it holds, and the files that could not be read and why."""
        drift = self.reindex()  # what the index had missed: files changed or removed behind its back
        records, problems = self.scan()
        counts = {"memories": 0, "superseded": 0, "deleted": 0, "notes": 0}
        for record in records:
            if record.kind == "note":
                counts["notes"] += 1
            elif record.is_current:
                counts["memories"] += 1
            else:
                key = record.status if record.status in counts else "superseded"
                counts[key] += 1
        suspicious = [{"id": r.id, "path": r.path} for r in records if r.is_current and looks_like_injection(r.text)]
        stored_secrets = [
            {"id": r.id, "path": r.path, "kind": found[0].kind, "line": found[0].line}
            for r in records
            if (found := scan_secrets(r.text))
        ]
        return {
            "vault": str(self.vault.root),
            "vault_source": self.settings.vault_source,
            "swept_temp_files": list(self.swept),
            "possible_prompt_injection": suspicious,
            "stored_secrets": stored_secrets,
            "index_drift": {"changed": drift.changed, "removed": drift.removed},
            "entities_without_note": sorted(
                e.name for e in self._graph(self._search_index()).entities.values() if e.note is None
            ),
            "vault_exists": self.vault.exists(),
            "default_vault": str(default_vault_path()),
            "counts": counts,
            "problems": [{"path": p.path, "reason": p.reason} for p in problems],
        }
