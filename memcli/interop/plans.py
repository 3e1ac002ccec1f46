"""`mem consolidate`'s plan as markdown: for a terminal and for .mem/consolidation.md. Pure."""

from __future__ import annotations

from typing import Any

from memcli.config import CONSOLIDATION_KINDS as KINDS

PlanItem = dict[str, Any]

_HEADINGS = {
    "merge": "Merge restatements (the others are superseded by the text kept)",
    "expire": "Expire (past their date: status expired, still in --all and history)",
    "conflicts": "Possible conflicts (into `mem review`; nothing decided here)",
    "fold": "Fold into memories/archive/ (no longer current; --all and --as-of still find them)",
    "promote": "Entity notes (a generated 'What mem knows' block; text outside it is never touched)",
}


def _line(text: object) -> str:
    """A memory's text on one line of the plan."""
    return " ".join(str(text).split())[:160]


def _item_lines(kind: str, item: PlanItem) -> list[str]:
    if kind == "merge":
        lines = [f"- keep {item['keep']['id']}: {_line(item['keep']['memory'])}"]
        return lines + [f"  - {m['id']}: {_line(m['memory'])}   ({m['why']})" for m in item["merge"]]
    if kind == "conflicts":
        return [
            f"- {item['new']['id']}: {_line(item['new']['memory'])}",
            f"  may replace {item['old']['id']}: {_line(item['old']['memory'])}   ({item['why']})",
        ]
    if kind == "promote":
        aliases = f"; aliases {', '.join(item['aliases'])}" if item.get("aliases") else ""
        return [f"- {item['action']} {item['path']}: linked from {len(item['memories'])} memories{aliases}"]
    if kind == "fold":
        return [f"- {item['memory']['id']} ({item['status']}): {item['memory']['path']} -> {item['to']}"]
    return [f"- {item['memory']['id']}: {_line(item['memory']['memory'])}   ({item['why']})"]


def plan_markdown(plan: dict[str, Any]) -> str:
    """The plan (or what an applied run did) as markdown: for a terminal and for .mem/consolidation.md."""
    applied = plan.get("applied")
    title = (
        "Consolidation: done" if applied else "Consolidation plan (dry run: nothing changed; --apply carries it out)"
    )
    out = [f"# {title}", ""]
    if plan.get("scope"):
        out += ["Scope: " + " ".join(f"{k}={v}" for k, v in plan["scope"].items()), ""]
    for kind in KINDS:
        items = plan.get(kind) or []
        if not items:
            continue
        out += [f"## {_HEADINGS[kind]}: {len(items)}", ""]
        for item in items:
            out += _item_lines(kind, item)
        out.append("")
    if not any(plan.get(kind) for kind in KINDS):
        out += ["Nothing to consolidate.", ""]
    for note in plan.get("notes") or []:
        out += [f"Note: {note}", ""]
    if plan.get("skipped_files"):
        out += ["## Files consolidated around (unreadable)", ""]
        out += [f"- {f['path']}: {f['reason']}" for f in plan["skipped_files"]] + [""]
    if applied:
        out += [f"Done: {len(plan.get('done') or [])} change(s)."]
        out += [f"- {line}" for line in plan.get("skipped") or []]
    return "\n".join(out).rstrip() + "\n"
