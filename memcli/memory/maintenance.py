"""Memory's housekeeping: init, git (commit per write, commit, sync, log), doctor and its fixes.
Takes the Memory's Core."""

from __future__ import annotations

import dataclasses
from typing import Any

from memcli.config import MARKER, default_vault_path
from memcli.guard.outputs import looks_like_injection
from memcli.guard.secrets import findings_in
from memcli.infer.llm import ChatClient
from memcli.memory.core import Core
from memcli.vault import git as gitrepo
from memcli.vault import markdown
from memcli.vault.files import write_atomically


class Maintenance:
    """Vault creation, versioning and health checks."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def init(self, *, git: bool = False) -> dict[str, Any]:
        """Create the vault's folders and marker (idempotent). With `git`, also a repository with
        .gitignore/.gitattributes, `[git] autocommit = true` in mem.toml, and a first commit."""
        if git and not gitrepo.available():
            raise gitrepo.GitError("git is not installed or not on PATH; install it, or run `mem init` without --git")
        created = self.core.vault.ensure()
        if git:
            marker = self.core.vault.root / MARKER
            text = marker.read_text(encoding="utf-8")
            if "[git]" not in text:
                write_atomically(marker, text.rstrip("\n") + "\n\n[git]\nautocommit = true\n")
            gitrepo.init(self.core.vault.root)
            self.core.settings = dataclasses.replace(self.core.settings, git_autocommit=True)
        return {"vault": str(self.core.vault.root), "created": created, "git": gitrepo.is_repo(self.core.vault.root)}

    def commit(self, message: str | None = None) -> dict[str, Any]:
        """Commit every change in the vault, hand edits included (`mem commit`)."""
        if not gitrepo.is_repo(self.core.vault.root):
            raise gitrepo.GitError("this vault is not a git repository; create one with `mem init PATH --git`")
        with self.core.vault.lock():
            done = gitrepo.commit_all(self.core.vault.root, message or "mem: commit hand edits")
        return {"committed": done}

    def sync(self) -> dict[str, Any]:
        """Pull (rebase) from the remote, index what came in, push. Stops on a conflict with a clear error."""
        with self.core.vault.lock():
            result = gitrepo.sync(self.core.vault.root)
        stats = self.core.catch_up()  # what was pulled is in; an index the disk refuses is no failure
        return {**result, "indexed": {"changed": stats.changed, "removed": stats.removed}}

    def file_log(self, memory_id: str) -> list[dict[str, str]]:
        """The git commits of a memory's file, newest first ([] when the vault is not a repo)."""
        record = self.core.find(memory_id)
        return gitrepo.log(self.core.vault.root, record.path) if gitrepo.is_repo(self.core.vault.root) else []

    def relink_duplicates(self) -> list[dict[str, str]]:
        """Give each file whose id another file already has (a copy, a merge) an id of its own.
        The first file by path keeps the id. Returns [{"path", "old_id", "new_id"}]."""
        changed = []
        with self.core.vault.lock():
            for problem in self.core.scan()[1]:
                if problem.duplicate_of is None:
                    continue
                path = self.core.vault.path(problem.path)
                file_text, sha = self.core.vault.read(path)
                old_id, new = markdown.parse(file_text).meta.get("id"), self.core.unused_id()
                self.core.vault.replace(path, markdown.set_keys(file_text, {"id": new}), expected_sha=sha)
                changed.append({"path": problem.path, "old_id": str(old_id), "new_id": new})
            self.core.autocommit([c["path"] for c in changed], "mem: give copied files ids of their own")
        if changed:
            self.core.index_written([c["path"] for c in changed])
        return changed

    def warm_up(self) -> None:
        """Load the index and the embedding model now, so the first search or edit pays nothing
        (for long-running processes: the watcher, a server). The model first: its load needs
        about 100 MB for a moment that it hands back, so loading the index after it keeps the
        process's peak memory to the larger of the two instead of their sum."""
        self.core.index().warm(lasting=True)
        self.core.fresh()

    def search_mode(self) -> str:
        """The mode searches run in now: the configured one, or "bm25" when no model is available."""
        return self.core.index().mode(self.core.settings.search_mode)

    def llm_report(self) -> dict[str, Any] | None:
        """The optional LLM, when one is configured: where, which model, and one tiny round trip
        (reachable, the response format it takes, how long it took, the error if any), plus
        whether the breaker has paused it in this process. None without one."""
        s = self.core.settings
        if not (s.llm_base_url and s.llm_model):
            return None
        client = ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key, s.llm_timeout)
        paused = client.paused()
        return {"base_url": s.llm_base_url, "model": s.llm_model, **client.probe(), "paused": paused}

    def doctor(self) -> dict[str, Any]:
        """Where the vault is, what it holds, and the files that could not be read and why."""
        drift = self.core.catch_up()  # what the index had missed: files changed or removed behind its back
        records, problems = self.core.scan()
        index = self.core.index()
        counts = {"memories": 0, "expired": 0, "superseded": 0, "deleted": 0, "notes": 0}
        now = self.core.clock().timestamp()
        for record in records:
            if record.kind == "note":
                counts["notes"] += 1
            elif record.is_current and record.expired(now):
                counts["expired"] += 1  # current, but past its expiration_date: out of search and lists
            elif record.is_current:
                counts["memories"] += 1
            else:
                key = record.status if record.status in counts else "superseded"
                counts[key] += 1
        suspicious = [{"id": r.id, "path": r.path} for r in records if r.is_current and looks_like_injection(r.text)]
        # every field a file holds, hand-written ones too (the title is the text's or the path's)
        fields = [{k: v for k, v in dataclasses.asdict(r).items() if k not in ("title", "sha256")} for r in records]
        stored_secrets = [
            {
                "id": r.id,
                "path": r.path,
                "kind": found[0][1].kind,
                "line": found[0][1].line,
                "fields": [f for f, _ in found],
            }
            for r, found in zip(records, findings_in(fields), strict=True)
            if found
        ]
        return {
            "vault": str(self.core.vault.root),
            "vault_source": self.core.settings.vault_source,
            "swept_temp_files": list(self.core.swept),
            "possible_prompt_injection": suspicious,
            "stored_secrets": stored_secrets,
            # None when the index under .mem/ could not be used: what an in-memory one read says nothing
            "index_drift": None if self.core.index_trouble else {"changed": drift.changed, "removed": drift.removed},
            "index": {
                "on_disk": index.on_disk,
                "search_mode": index.mode(self.core.settings.search_mode),
                "unembedded": index.unembedded(),
                "problem": self.core.index_trouble,
            },
            "entities_without_note": sorted(
                e.name for e in self.core.graph(self.core.index()).entities.values() if e.note is None
            ),
            "llm": self.llm_report(),
            "vault_exists": self.core.vault.exists(),
            "default_vault": str(default_vault_path()),
            "counts": counts,
            "problems": [{"path": p.path, "reason": p.reason} for p in problems]
            + [{"path": path, "reason": why} for path, why in self.core.vault.skipped],
        }
