"""Embeddings: the run's own, the named pixel fallback cached on disk, and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelnext import embeddings as emb
from labelnext.embeddings import (
    FALLBACK_SOURCE,
    RUN_SOURCE,
    EmbeddingError,
    check_embeddings,
    embedding_cache_dir,
    embedding_for,
    pixel_embedding,
)
from labelnext.readers import load_run
from labelnext.runs import ModelRun


def write_run(
    folder: Path, n: int = 40, *, embedding: bool = False, images: bool = True
) -> ModelRun:
    """A classification run of ``n`` rows; images are 20x20 squares of varying brightness."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(2), size=n)
    frame = pd.DataFrame(
        {"data_row_id": [f"row-{i:02d}" for i in range(n)], "prob_a": p[:, 0], "prob_b": p[:, 1]}
    )
    if images:
        for i in range(n):
            pixels = np.zeros((20, 20), dtype=np.uint8)
            pixels[: 1 + i % 20, :] = 40 + 5 * i
            Image.fromarray(pixels).save(folder / f"img-{i:02d}.png")
        frame["image"] = [f"img-{i:02d}.png" for i in range(n)]
    if embedding:
        frame["embedding"] = [[float(i), float(i % 3)] for i in range(n)]
    path = folder / "predictions.parquet"
    frame.to_parquet(path)
    return load_run(path, allowed_roots=[folder])


def test_check_embeddings_names_row_column_and_id() -> None:
    x = np.zeros((3, 4), dtype=np.float32)
    assert check_embeddings(x) is x  # float32 is used as it is, no copy
    x[1, 2] = np.inf
    with pytest.raises(
        EmbeddingError,
        match=r"embeddings row 1 \(data_row_id 'b'\), column 2 is infinite \(1 row.s. hold",
    ):
        check_embeddings(x, ids=["a", "b", "c"])
    with pytest.raises(
        EmbeddingError, match="vectors row 0 holds 1 value.s., expected 2 like most"
    ):
        check_embeddings([[1.0], [1.0, 2.0], [3.0, 4.0]], field="vectors")
    with pytest.raises(EmbeddingError, match="embeddings has 3 row.s., expected 5"):
        check_embeddings(np.zeros((3, 2)), n_rows=5)
    with pytest.raises(EmbeddingError, match="embeddings has dimension 2, expected 16"):
        check_embeddings(np.zeros((3, 2)), expected_dim=16)
    with pytest.raises(EmbeddingError, match=r"must have shape \(n_rows, dim\), got an array of"):
        check_embeddings(np.zeros(3))
    with pytest.raises(EmbeddingError, match="holds values that are not numbers"):
        check_embeddings([["a", "b"], ["c", "d"]])


def test_check_embeddings_finds_a_nan_beyond_the_first_block() -> None:
    x = np.ones((10_000, 3))
    x[9_321, 0] = np.nan
    x[9_500, 1] = 1e308  # finite, though a row sum overflows
    x[9_500, 2] = 1e308
    with pytest.raises(EmbeddingError, match="row 9321, column 0 is NaN .1 row"):
        check_embeddings(x)


def test_a_runs_own_embedding_comes_first(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", embedding=True)
    matrix, source = embedding_for(run, home=tmp_path / "home")
    assert source == RUN_SOURCE == "run"
    assert matrix.dtype == np.float32 and matrix.shape == (40, 2)
    assert matrix[5].tolist() == [5.0, 2.0]
    assert not (tmp_path / "home").exists()  # nothing cached: nothing computed
    with pytest.raises(EmbeddingError, match="embedding has dimension 2, expected 8"):
        embedding_for(run, expected_dim=8)


def test_the_pixel_fallback_is_named_deterministic_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = write_run(tmp_path / "run")
    home = tmp_path / "home"
    calls: list[tuple[int, int]] = []
    matrix, source = embedding_for(run, home=home, progress=lambda a, b: calls.append((a, b)))
    assert source == FALLBACK_SOURCE == "pixels-16x16-pca32"
    assert matrix.shape == (40, 32) and matrix.dtype == np.float32
    assert np.isfinite(matrix).all() and calls[-1] == (40, 40)
    cached = list(embedding_cache_dir(home).glob("*.npy"))
    assert [p.name for p in cached] == [f"{run.content_hash}-{source}-v1.npy"]
    # the second call reads the cache: reading images would fail now
    monkeypatch.setattr(emb, "_pixel_matrix", lambda *a: pytest.fail("recomputed"))
    again, _ = embedding_for(run, home=home)
    assert np.array_equal(again, matrix)
    # a damaged cache file is recomputed, not trusted
    monkeypatch.undo()
    cached[0].write_bytes(b"not an npy file")
    fresh, _ = embedding_for(run, home=home)
    assert np.array_equal(fresh, matrix)


def test_the_fallback_separates_what_the_images_show(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    matrix, _ = embedding_for(run, home=tmp_path / "home")
    # rows 3 and 4 differ by one row of bar (and a little brightness), rows 3 and 13 by ten
    near = np.linalg.norm(matrix[3] - matrix[4])
    far = np.linalg.norm(matrix[3] - matrix[13])
    assert far > near


def test_a_small_run_gets_fewer_components_and_says_so(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", n=10)
    matrix, source = embedding_for(run, home=tmp_path / "home")
    assert source == "pixels-16x16-pca9" and matrix.shape == (10, 9)


def test_refuses_a_run_with_neither_embedding_nor_images(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", images=False)
    with pytest.raises(EmbeddingError, match="has no 'embedding' column and no 'image' column"):
        embedding_for(run, home=tmp_path / "home")
    with_images = write_run(tmp_path / "run2")
    with pytest.raises(EmbeddingError, match="image fallback is off .allow_fallback=False."):
        embedding_for(with_images, allow_fallback=False, home=tmp_path / "home")


def test_unreadable_images_are_named_by_row(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    (tmp_path / "run" / "img-03.png").unlink()
    (tmp_path / "run" / "img-07.png").write_bytes(b"not a png")
    with pytest.raises(
        EmbeddingError,
        match=r"cannot read 2 of its 40 image.s.: row 3 \(data_row_id 'row-03'\): missing image "
        r"img-03.png; row 7 \(data_row_id 'row-07'\): unreadable image img-07.png",
    ):
        embedding_for(run, home=tmp_path / "home")
    assert not embedding_cache_dir(tmp_path / "home").exists()  # nothing half-written


def test_pixel_embedding_is_pca_with_fixed_signs() -> None:
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 4.0]) / 5.0
    t = rng.normal(size=200)
    x = np.outer(t, direction) + rng.normal(scale=1e-3, size=(200, 2))
    one = pixel_embedding(x, dim=1)[:, 0]
    assert np.allclose(one, t - t.mean(), atol=1e-2)  # the projection on the line itself
    assert np.array_equal(pixel_embedding(-x, dim=1), -one[:, None])  # sign by the loadings
    with pytest.raises(ValueError, match="1 <= dim <= p"):
        pixel_embedding(x, dim=3)
