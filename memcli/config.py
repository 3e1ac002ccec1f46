"""Settings, resolved once and passed down: flag > MEM_* environment > vault config > default.
Where a setting decides where memories (and an API key) are sent, the vault's config, which is
committed and synced, does not count alone: the user's own config ($XDG_CONFIG_HOME/mem/config.toml)
or environment must say so."""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcli.errors import InvalidInputError, VaultError

MARKER = "mem.toml"  # the vault marker and its (committed) config file
STATE_DIR = ".mem"  # derived state: index, lock; never committed
MEMORIES_DIR = "memories"
ENTITIES_DIR = "entities"

log = logging.getLogger(__name__)

DEFAULT_MAX_FILE_BYTES = 1_000_000
CONSOLIDATION_KINDS = ("merge", "expire", "conflicts", "fold", "promote")
DEFAULT_LOCK_TIMEOUT = 30.0


@dataclass(frozen=True)
class Settings:
    """Everything a Memory needs to know about where and how to work."""

    vault: Path
    vault_source: str  # how the vault was chosen: flag | env | marker | default
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    search_mode: str = "hybrid"  # hybrid | bm25 | dense
    embed_model: str = "bundled"  # bundled | none
    embed_threads: int | None = None  # None: onnxruntime picks (all cores)
    dense_weight: float = 0.4
    half_life_days: float = 180.0
    # A warm process re-checks the files for outside edits at most this often (mem's own writes,
    # and other mem processes' writes, show at once). Checking costs one stat per file.
    freshness_ms: int = 1000
    graph_hops: int = 2  # how far evidence travels along [[links]] in search (0: off)
    autolink: bool = True  # known entity names in inferred memories become [[links]]
    # Secrets (API keys, tokens, private keys) are refused; with this they are stored redacted.
    redact_secrets: bool = False
    # Every write by mem becomes one git commit (vaults made with `mem init --git`).
    git_autocommit: bool = False
    # Optional LLM for extraction and reconciliation: any OpenAI-compatible chat endpoint
    # (Ollama, llama.cpp server, vLLM, OpenAI). Unset: the built-in rules, no network.
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None  # from MEM_LLM_API_KEY only: a vault's mem.toml is committed
    llm_timeout: float = 30.0
    # The CLI asks a running `mem watch` first (MEM_DAEMON=off: always answer in-process).
    use_daemon: bool = True
    # What a scheduled consolidation (`mem watch --consolidate-every`) may apply by itself;
    # everything else is only planned, into .mem/consolidation.md. mem.toml: [consolidate] apply.
    consolidate_apply: tuple[str, ...] = ()
    consolidate_min_links: int = 3


def default_vault_path(env: Mapping[str, str] | None = None) -> Path:
    """The user's default vault: $XDG_DATA_HOME/mem/vault (~/.local/share/mem/vault)."""
    env = os.environ if env is None else env
    data_home = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(data_home).expanduser() / "mem" / "vault"


def find_marker(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding a vault marker."""
    for folder in (start, *start.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


def resolve_vault(
    flag: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[Path, str]:
    """Pick the vault: --vault > MEM_VAULT > nearest ancestor with mem.toml > default vault."""
    env = os.environ if env is None else env
    if flag is not None and str(flag) != "":
        path, source = Path(flag), "flag"
    elif env.get("MEM_VAULT"):
        path, source = Path(env["MEM_VAULT"]), "env"
    else:
        found = find_marker((cwd or Path.cwd()).resolve())
        path, source = (found, "marker") if found else (default_vault_path(env), "default")
    if "\x00" in str(path):
        raise InvalidInputError("the vault path contains a NUL byte")
    path = path.expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise VaultError(f"vault path {path} is a file, not a folder; pass a folder with --vault or MEM_VAULT")
    return path, source


def _int_setting(name: str, value: object) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidInputError(f"{name} must be a whole number, got {value!r}") from None
    if number <= 0:
        raise InvalidInputError(f"{name} must be positive, got {number}")
    return number


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return text


def _float_setting(name: str, value: object, low: float, high: float) -> float:
    try:
        number = float(str(value))
    except ValueError:
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise InvalidInputError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _url_setting(name: str, value: object) -> str | None:
    text = str(value or "").strip()
    if text and not text.lower().startswith(("http://", "https://")):
        raise InvalidInputError(
            f"{name} must be an http:// or https:// URL, like http://localhost:11434/v1; got {text[:60]!r}"
        )
    return text or None


def user_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "mem" / "config.toml"


def read_user_config(env: Mapping[str, str]) -> dict[str, Any]:
    """The user's own config ({} when absent): what a synced vault must not decide for them."""
    path = user_config_path(env)
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"{path} is not valid TOML ({err}); fix or delete it") from None


def _on_this_machine(url: str) -> bool:
    import ipaddress  # only when an LLM endpoint is set: not on every `mem` call's path
    import urllib.parse

    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _llm_url(env: Mapping[str, str], user: dict[str, Any], vault: dict[str, Any], marker: Path) -> str | None:
    """The endpoint that receives the scope's memories and MEM_LLM_API_KEY: from the environment
    or the user's config; a committed mem.toml may only point at this machine (a vault cloned
    from anyone could otherwise send both anywhere)."""
    name = "LLM base URL (MEM_LLM_BASE_URL)"
    trusted = _url_setting(name, env.get("MEM_LLM_BASE_URL") or user.get("base_url"))
    if trusted:
        return trusted
    committed = _url_setting(f"[llm] base_url in {marker}", vault.get("base_url"))
    if committed and not _on_this_machine(committed):
        log.warning(
            "mem: ignoring [llm] base_url %s in %s: a vault's config may only name an LLM on this machine; "
            "set MEM_LLM_BASE_URL or base_url under [llm] in %s to use it",
            committed,
            marker,
            "~/.config/mem/config.toml",
        )
        return None
    return committed


def read_vault_config(vault: Path) -> dict[str, Any]:
    """The vault's mem.toml as a dict ({} when absent)."""
    marker = vault / MARKER
    if not marker.is_file():
        return {}
    try:
        return tomllib.loads(marker.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise VaultError(f"{marker} is not valid TOML ({err}); fix or delete it") from None


def load_settings(
    vault: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Resolve the vault and its settings once, for one Memory."""
    env = os.environ if env is None else env
    path, source = resolve_vault(vault, env, cwd)
    config = read_vault_config(path)
    limits = config.get("limits", {}) if isinstance(config.get("limits"), dict) else {}
    search = config.get("search", {}) if isinstance(config.get("search"), dict) else {}
    privacy = config.get("privacy", {}) if isinstance(config.get("privacy"), dict) else {}
    graph = config.get("graph", {}) if isinstance(config.get("graph"), dict) else {}
    llm = config.get("llm", {}) if isinstance(config.get("llm"), dict) else {}
    consolidate = config.get("consolidate", {}) if isinstance(config.get("consolidate"), dict) else {}
    user_llm = read_user_config(env).get("llm", {})
    user_llm = user_llm if isinstance(user_llm, dict) else {}
    max_bytes = env.get("MEM_MAX_FILE_BYTES") or limits.get("max_file_bytes") or DEFAULT_MAX_FILE_BYTES
    threads = env.get("MEM_EMBED_THREADS") or search.get("embed_threads")
    return Settings(
        vault=path,
        vault_source=source,
        max_file_bytes=_int_setting("max_file_bytes", max_bytes),
        search_mode=_choice(
            "search mode (MEM_SEARCH_MODE)",
            env.get("MEM_SEARCH_MODE") or search.get("mode") or "hybrid",
            ("hybrid", "bm25", "dense"),
        ),
        embed_model=_choice(
            "embedding model (MEM_EMBED_MODEL)",
            env.get("MEM_EMBED_MODEL") or search.get("embed_model") or "bundled",
            ("bundled", "none"),
        ),
        embed_threads=_int_setting("embed_threads", threads) if threads else None,
        dense_weight=_float_setting("dense_weight", search.get("dense_weight", 0.4), 0.0, 1.0),
        half_life_days=_float_setting("half_life_days", search.get("half_life_days", 180.0), 0.0, 100_000.0),
        git_autocommit=bool((config.get("git") or {}).get("autocommit", False))
        if isinstance(config.get("git"), dict)
        else False,
        redact_secrets=str(env.get("MEM_REDACT") or privacy.get("redact") or "").lower() in ("1", "true", "yes", "on"),
        autolink=str(env.get("MEM_AUTOLINK") or graph.get("autolink", True)).lower() not in ("0", "false", "no", "off"),
        graph_hops=int(_float_setting("graph_hops", env.get("MEM_GRAPH_HOPS") or search.get("graph_hops", 2), 0, 5)),
        llm_base_url=_llm_url(env, user_llm, llm, path / MARKER),
        llm_model=str(env.get("MEM_LLM_MODEL") or user_llm.get("model") or llm.get("model") or "").strip() or None,
        llm_api_key=env.get("MEM_LLM_API_KEY") or None,
        llm_timeout=_float_setting(
            "llm timeout (MEM_LLM_TIMEOUT)",
            env.get("MEM_LLM_TIMEOUT") or user_llm.get("timeout") or llm.get("timeout", 30.0),
            0.1,
            600.0,
        ),
        freshness_ms=int(
            _float_setting(
                "freshness_ms", env.get("MEM_FRESHNESS_MS") or search.get("freshness_ms", 1000), 0, 3_600_000
            )
        ),
        use_daemon=str(env.get("MEM_DAEMON") or "on").lower() not in ("0", "false", "no", "off"),
        consolidate_apply=_kinds(consolidate.get("apply", [])),
        consolidate_min_links=_int_setting("consolidate min_links", consolidate.get("min_links", 3)),
    )


def _kinds(value: object) -> tuple[str, ...]:
    """mem.toml's `[consolidate] apply`: a list of consolidation kinds."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInputError(f"mem.toml [consolidate] apply must be a list of: {', '.join(CONSOLIDATION_KINDS)}")
    unknown = [v for v in value if v not in CONSOLIDATION_KINDS]
    if unknown:
        raise InvalidInputError(
            f"mem.toml [consolidate] apply: {', '.join(unknown)} is no kind; the kinds are {', '.join(CONSOLIDATION_KINDS)}"
        )
    return tuple(dict.fromkeys(value))


# Mem0's config dict, as `Memory.from_config` takes it: the keys that apply to mem, each mapped;
# any other key is an error, so nothing a user configured is silently ignored.
_MEM0_LLM_URL_KEYS = ("openai_base_url", "ollama_base_url", "lmstudio_base_url", "vllm_base_url", "base_url")
_MEM0_LLM_PROVIDERS = {"openai": None, "ollama": "http://localhost:11434/v1", "lmstudio": "http://localhost:1234/v1"}
_MEM0_LLM_PROVIDERS |= {"vllm": "http://localhost:8000/v1", "litellm": None, "deepseek": None, "groq": None}


def _section(config: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    value = config.get(name) or {}
    if not isinstance(value, dict):
        raise InvalidInputError(f"from_config: {name} must be a mapping")
    unknown = set(value) - allowed
    if unknown:
        raise InvalidInputError(
            f"from_config: {name} takes {', '.join(sorted(allowed))}; not {', '.join(sorted(unknown))}"
        )
    inner = value.get("config") or {}
    if not isinstance(inner, dict):
        raise InvalidInputError(f"from_config: {name}.config must be a mapping")
    return {"provider": value.get("provider"), **inner}


def settings_from_mem0(config: object, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for a Mem0 config dict: vector_store.config.path is the vault; embedder may only
    name mem's bundled model (offline: no other model can be fetched); llm is the optional
    OpenAI-compatible LLM (its api_key from this dict is the caller's own, so it counts)."""
    if not isinstance(config, dict):
        raise InvalidInputError("from_config takes a mapping, like {'vector_store': {'config': {'path': '~/notes'}}}")
    known = {"vector_store", "embedder", "llm", "version"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise InvalidInputError(
            f"from_config: mem does not use {', '.join(unknown)}; it takes {', '.join(sorted(known))} "
            "(memories live in the vault's files, so there is no history_db_path or graph_store to set)"
        )
    store = _section(config, "vector_store", {"provider", "config"})
    store_extra = set(store) - {"provider", "path", "collection_name"}
    if store_extra:
        raise InvalidInputError(
            f"from_config: vector_store.config takes path (the vault); not {', '.join(sorted(store_extra))}"
        )
    settings = load_settings(store.get("path"), env)
    embedder = _section(config, "embedder", {"provider", "config"})
    model = embedder.get("model")
    if set(embedder) - {"provider", "model"} or (
        model not in (None, "bundled", "all-MiniLM-L6-v2", "all-MiniLM-L6-v2-int8")
    ):
        raise InvalidInputError(
            "from_config: mem embeds offline with its bundled all-MiniLM-L6-v2 model; leave embedder out "
            "(or provider 'none' for keyword search only)"
        )
    if embedder.get("provider") == "none":
        settings = dataclasses.replace(settings, embed_model="none")
    llm = _section(config, "llm", {"provider", "config"})
    if llm.get("provider") or len(llm) > 1:
        provider = str(llm.get("provider") or "openai")
        if provider not in _MEM0_LLM_PROVIDERS:
            raise InvalidInputError(
                f"from_config: llm provider {provider!r} is not OpenAI-compatible; use one of {', '.join(_MEM0_LLM_PROVIDERS)}"
            )
        extra = set(llm) - {"provider", "model", "api_key", "temperature", "max_tokens", *_MEM0_LLM_URL_KEYS}
        if extra:
            raise InvalidInputError(f"from_config: llm.config does not take {', '.join(sorted(extra))}")
        url = next((llm[k] for k in _MEM0_LLM_URL_KEYS if llm.get(k)), None) or _MEM0_LLM_PROVIDERS[provider]
        url = url or "https://api.openai.com/v1"
        settings = dataclasses.replace(
            settings,
            llm_base_url=_url_setting("from_config: llm base URL", url),
            llm_model=str(llm.get("model") or "") or None,
            llm_api_key=str(llm.get("api_key") or "") or settings.llm_api_key,
        )
    return settings
