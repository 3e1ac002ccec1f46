#!/usr/bin/env bash
# Every MCP tool through the official MCP Inspector CLI (needs node/npm; not part of CI):
#   bash bench/mcp_inspector.sh            # prints one line per call: ok / ERROR and the answer's start
# It installs the inspector into a temporary folder, makes a throwaway vault, lists the tools,
# then calls each one; delete_all_memories is called once without a scope (must be refused).
set -euo pipefail
MEM=${MEM:-$(command -v mem)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm install --silent @modelcontextprotocol/inspector >/dev/null 2>&1)
export MEM_EMBED_MODEL=${MEM_EMBED_MODEL:-none}
vault="$work/vault"
"$MEM" --vault "$vault" init >/dev/null
inspect() { (cd "$work" && npx mcp-inspector --cli "$MEM" --vault "$vault" mcp --user ray "$@" 2>/dev/null); }
inspect --method tools/list | python3 -c 'import json,sys; print("tools:", ", ".join(t["name"] for t in json.load(sys.stdin)["tools"]))'
call() {
  inspect --method tools/call --tool-name "$@" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
text = answer["content"][0]["text"]
print(("ERROR " if answer.get("isError") else "ok    ") + sys.argv[1] + ": " + " ".join(text.split())[:110])' "$1"
}
call add_memory --tool-arg 'text=[[Ana]] works on [[Project Falcon]]' --tool-arg infer=false
call add_memory --tool-arg 'text=Prefers pnpm over npm'
call search_memories --tool-arg query=pnpm
call get_memories --tool-arg 'filters={"user_id":"ray"}'
id=$(inspect --method tools/call --tool-name search_memories --tool-arg query=pnpm |
  python3 -c 'import json,sys; print(json.loads(json.load(sys.stdin)["content"][0]["text"])["results"][0]["id"])')
call get_memory --tool-arg "memory_id=$id"
call update_memory --tool-arg "memory_id=$id" --tool-arg 'text=Prefers bun over pnpm'
call memory_history --tool-arg "memory_id=$id"
call list_entities
call list_graph_entities
call related --tool-arg entity=Ana
call delete_memory --tool-arg "memory_id=$id"
call delete_all_memories
call delete_all_memories --tool-arg user_id=ray
call delete_entities --tool-arg user_id=ray
