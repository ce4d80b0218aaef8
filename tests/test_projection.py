"""Map coordinates: own columns, PCA (against scikit-learn), UMAP, the disk cache, bad input."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

from labelnext import projection
from labelnext.errors import NoEmbeddingError, ProjectionError, RunValidationError
from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.projection import (
    check_embedding,
    coordinate_columns,
    map_cache_key,
    map_coordinates,
    maps_dir,
    pca_2d,
    project_embedding,
)
from labelnext.readers import load_run
from labelnext.runs import ModelRun


@pytest.fixture(scope="module")
def mnist() -> ModelRun:
    return load_run(SAMPLE_DATA_DIR / "mnist" / "run_001")


def _run(n: int = 40, d: int = 5, *, seed: int = 0, **changes: object) -> ModelRun:
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
    run = ModelRun(
        name="tiny",
        task="classification",
        classes=("a", "b", "c"),
        ids=np.array([f"r{i:03d}" for i in range(n)], dtype=object),
        probabilities=probabilities,
        metadata=pd.DataFrame(index=range(n)),
        source="tiny.parquet",
        content_hash=f"hash-{seed}",
        embedding=rng.normal(size=(n, d)).astype(np.float32),
    )
    return dataclasses.replace(run, **changes) if changes else run


# --- PCA ----------------------------------------------------------------------------------------


def test_pca_equals_scikit_learn_up_to_sign() -> None:
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(300, 6)) * [5, 3, 1, 0.5, 0.2, 0.1]).astype(np.float32)
    ours, explained = pca_2d(x)
    reference = PCA(n_components=2, svd_solver="full").fit(x.astype(np.float64))
    theirs = reference.transform(x.astype(np.float64))
    for axis in range(2):
        sign = np.sign(ours[:, axis] @ theirs[:, axis])
        np.testing.assert_allclose(ours[:, axis], sign * theirs[:, axis], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(explained, reference.explained_variance_ratio_, rtol=1e-6)


def test_pca_sign_follows_the_largest_loading_so_the_result_is_one_answer() -> None:
    # a single direction of variance along +e0: the first axis must grow with column 0
    x = np.zeros((5, 3), dtype=np.float32)
    x[:, 0] = [-2, -1, 0, 1, 2]
    xy, explained = pca_2d(x)
    assert xy[:, 0].tolist() == [-2, -1, 0, 1, 2]
    assert explained == (1.0, 0.0)


def test_pca_runs_over_several_chunks_like_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1000, 4)).astype(np.float32) * [4, 2, 1, 1]
    whole, _ = pca_2d(x)
    monkeypatch.setattr(projection, "_CHUNK_ROWS", 64)
    chunked, _ = pca_2d(x)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)


def test_pca_of_a_one_dimensional_embedding_gets_a_zero_second_axis() -> None:
    xy, explained = pca_2d(np.array([[1.0], [2.0], [4.0]], dtype=np.float32))
    assert xy[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert explained[1] == 0.0
    np.testing.assert_allclose(xy[:, 0], [-4 / 3, -1 / 3, 5 / 3], rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 200), d=st.integers(2, 12))
def test_projection_is_deterministic(seed: int, n: int, d: int) -> None:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    first = project_embedding(x, method="pca", seed=seed)
    again = project_embedding(x.copy(), method="pca", seed=seed)
    assert first.dtype == np.float32 and first.shape == (n, 2)
    assert np.array_equal(first, again)


def test_progress_is_reported_from_zero_to_one() -> None:
    seen: list[float] = []
    project_embedding(np.eye(4, dtype=np.float32), progress=lambda f, _msg: seen.append(f))
    assert seen == sorted(seen) and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)


# --- UMAP (optional extra) ----------------------------------------------------------------------

HAS_UMAP = importlib.util.find_spec("umap") is not None


def _need_umap() -> None:
    # an optional extra (pip install 'labelnext[umap]'), not installed by requirements-dev.txt:
    # its numba compilation alone takes minutes, so CI does not pay for it on every run
    if not HAS_UMAP:
        pytest.skip("umap-learn is not installed (optional extra: pip install umap-learn)")


@pytest.mark.slow
def test_umap_is_deterministic_under_the_seed_and_keeps_clusters_apart() -> None:
    _need_umap()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 8
    label = np.arange(300) % 3
    x = (centres[label] + rng.normal(size=(300, 8))).astype(np.float32)
    first = project_embedding(x, method="umap", seed=7, umap_fit_rows=200)
    again = project_embedding(x, method="umap", seed=7, umap_fit_rows=200)
    assert first.shape == (300, 2) and np.isfinite(first).all()
    assert np.array_equal(first, again)
    # rows placed by their neighbours land in their own cluster: nearest centre = own label
    placed = np.setdiff1d(np.arange(300), np.sort(np.random.default_rng(7).choice(300, 200, False)))
    centroids = np.array([first[label == c].mean(axis=0) for c in range(3)])
    nearest = np.argmin(((first[placed, None, :] - centroids) ** 2).sum(-1), axis=1)
    assert (nearest == label[placed]).mean() > 0.95


def test_umap_without_the_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_umap(name: str, *args: object, **kwargs: object) -> object:
        if name == "umap":
            raise ImportError("No module named 'umap'")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_umap)
    with pytest.raises(ProjectionError, match="needs the optional package umap-learn"):
        project_embedding(np.eye(5, dtype=np.float32), method="umap")


# --- map_coordinates: sources and the cache ------------------------------------------------------


def test_a_runs_own_columns_are_used_as_they_are(tmp_path: Path) -> None:
    meta = pd.DataFrame({"umap_x": np.arange(40.0), "umap_y": -np.arange(40.0)})
    run = _run(metadata=meta)
    assert coordinate_columns(run) == ("umap_x", "umap_y")
    coords = map_coordinates(run, home=tmp_path)
    assert coords.method == "columns" and coords.source == "columns umap_x/umap_y"
    assert coords.xy[:, 0].tolist() == list(range(40)) and coords.xy[3, 1] == -3.0
    assert coords.cache_path is None and not maps_dir(tmp_path).exists()


def test_map_x_wins_over_the_other_names_and_pca_can_still_be_asked_for(tmp_path: Path) -> None:
    meta = pd.DataFrame({c: np.ones(40) for c in ("tsne_x", "tsne_y", "map_x", "map_y")})
    run = _run(metadata=meta)
    assert map_coordinates(run, home=tmp_path).source == "columns map_x/map_y"
    assert map_coordinates(run, method="pca", home=tmp_path).method == "pca"


def test_coordinate_columns_with_a_bad_value_name_the_row_and_column(tmp_path: Path) -> None:
    meta = pd.DataFrame({"map_x": [0.0] * 39 + [np.inf], "map_y": ["1"] * 38 + ["x", "2"]})
    with pytest.raises(RunValidationError) as info:
        map_coordinates(_run(metadata=meta), home=tmp_path)
    text = str(info.value)
    assert "tiny.parquet, row 40, field 'map_x'" in text and "'r039'" in text
    assert "row 39, field 'map_y'" in text


def test_cache_same_key_reloads_without_recomputing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = projection._pca_2d

    def counting(x: np.ndarray, progress: object) -> object:
        calls.append(len(x))
        return real(x, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(projection, "_pca_2d", counting)
    run = _run()
    first = map_coordinates(run, home=tmp_path)
    second = map_coordinates(run, home=tmp_path)
    assert calls == [40]
    assert (first.from_cache, second.from_cache) == (False, True)
    assert isinstance(second.xy, np.memmap) and not second.xy.flags.writeable
    assert np.array_equal(first.xy, second.xy)
    assert second.explained_variance == first.explained_variance
    assert first.cache_path == second.cache_path
    assert first.cache_path is not None and first.cache_path.parent == tmp_path / "maps"
    assert not list((tmp_path / "maps").glob(".tmp-*"))  # no temporary file left behind


def test_cache_a_changed_hash_or_method_or_embedding_recomputes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = projection._pca_2d
    monkeypatch.setattr(projection, "_pca_2d", lambda x, p: calls.append("pca") or real(x, p))
    run = _run()
    map_coordinates(run, home=tmp_path)
    map_coordinates(dataclasses.replace(run, content_hash="changed"), home=tmp_path)
    assert calls == ["pca", "pca"]
    fallback = np.random.default_rng(9).normal(size=(40, 3)).astype(np.float32)
    coords = map_coordinates(
        run, embedding=fallback, embedding_name="image fallback", home=tmp_path
    )
    assert calls == ["pca"] * 3
    assert coords.source == "PCA of image fallback (40 x 3)"
    assert map_coordinates(run, embedding=fallback.copy(), home=tmp_path).from_cache
    assert len(list((tmp_path / "maps").glob("*.npy"))) == 3


def test_cache_keys_differ_by_every_input() -> None:
    base = {"seed": 1, "embedding": "run", "params": {"umap_fit_rows": 10}}
    key = map_cache_key("h", "umap", **base)  # type: ignore[arg-type]
    assert key == map_cache_key("h", "umap", **base)  # type: ignore[arg-type]
    others = [
        map_cache_key("h2", "umap", **base),  # type: ignore[arg-type]
        map_cache_key("h", "pca", **base),  # type: ignore[arg-type]
        map_cache_key("h", "umap", seed=2, embedding="run", params=base["params"]),  # type: ignore[arg-type]
        map_cache_key("h", "umap", seed=1, embedding="sha256:x", params=base["params"]),  # type: ignore[arg-type]
        map_cache_key("h", "umap", seed=1, embedding="run", params={"umap_fit_rows": 11}),
    ]
    assert key not in others and len(set(others)) == len(others)


def test_a_damaged_cache_file_is_recomputed_and_replaced(tmp_path: Path) -> None:
    run = _run()
    first = map_coordinates(run, home=tmp_path)
    expected = np.array(first.xy)  # a copy: the memory map goes with the file
    assert first.cache_path is not None
    first.cache_path.unlink()
    first.cache_path.write_bytes(b"not a numpy file")
    again = map_coordinates(run, home=tmp_path)
    assert not again.from_cache
    assert np.array_equal(np.asarray(again.xy), expected)
    assert map_coordinates(run, home=tmp_path).from_cache


def test_use_cache_false_writes_nothing(tmp_path: Path) -> None:
    coords = map_coordinates(_run(), home=tmp_path, use_cache=False)
    assert coords.cache_path is None and not (tmp_path / "maps").exists()


def test_home_defaults_to_labelnext_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABELNEXT_HOME", str(tmp_path / "data"))
    assert maps_dir() == tmp_path / "data" / "maps"
    coords = map_coordinates(_run())
    assert coords.cache_path is not None and coords.cache_path.parent == tmp_path / "data" / "maps"


def test_the_shipped_mnist_run_maps_from_its_embedding(mnist: ModelRun, tmp_path: Path) -> None:
    coords = map_coordinates(mnist, home=tmp_path)
    assert coords.method == "pca" and coords.xy.shape == (mnist.n_rows, 2)
    assert coords.source == "PCA of embedding (4875 x 16)"
    assert coords.explained_variance is not None and sum(coords.explained_variance) < 1


# --- bad input ----------------------------------------------------------------------------------


def test_a_run_without_embedding_says_how_to_add_one(tmp_path: Path) -> None:
    run = _run(embedding=None)
    with pytest.raises(NoEmbeddingError, match="has no embedding to draw a map from. Add an"):
        map_coordinates(run, home=tmp_path)
    with pytest.raises(NoEmbeddingError, match="map_x/map_y or umap_x/umap_y or tsne_x/tsne_y"):
        map_coordinates(run, home=tmp_path)
    with pytest.raises(NoEmbeddingError, match=r"labelnext.embeddings\) and pass it as embedding"):
        map_coordinates(run, home=tmp_path)
    with pytest.raises(NoEmbeddingError, match="has no coordinate columns"):
        map_coordinates(_run(), method="columns", home=tmp_path)


def test_a_fallback_embedding_is_accepted_when_the_run_has_none(tmp_path: Path) -> None:
    run = _run(embedding=None)
    fallback = np.random.default_rng(3).normal(size=(40, 4))
    coords = map_coordinates(run, embedding=fallback, home=tmp_path)
    assert coords.xy.shape == (40, 2)


def test_nan_and_inf_embeddings_name_the_row_and_the_id(tmp_path: Path) -> None:
    bad = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    bad[4, 1] = np.nan
    bad[17, 0] = -np.inf
    with pytest.raises(RunValidationError) as info:
        map_coordinates(_run(), embedding=bad, embedding_name="image fallback", home=tmp_path)
    text = str(info.value)
    assert "tiny.parquet, row 5, field 'image fallback': data_row_id 'r004': NaN or inf" in text
    assert "row 18, field 'image fallback': data_row_id 'r017'" in text
    assert not (tmp_path / "maps").exists()  # nothing stored


def test_rows_of_different_lengths_name_the_row() -> None:
    ragged = [[0.0, 1.0], [1.0, 2.0], [3.0], [4.0, 5.0]]
    with pytest.raises(
        RunValidationError, match=r"row 3, field 'embedding': holds 1 values, expected 2"
    ):
        check_embedding(ragged)
    with pytest.raises(RunValidationError, match="holds values that are not numbers"):
        check_embedding([["a", "b"], ["c", "d"]])


def test_an_embedding_with_the_wrong_row_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RunValidationError, match="field 'embedding': has 3 rows, the run has 40"):
        map_coordinates(_run(), embedding=np.ones((3, 2)), home=tmp_path)
    with pytest.raises(RunValidationError, match=r"must have shape \(n_rows, d\)"):
        check_embedding(np.ones(4))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "tsne"}, ProjectionError, "method must be one of auto, columns, pca, umap"),
        ({"seed": 1.5}, TypeError, "seed must be an int, got float 1.5"),
        ({"umap_fit_rows": 3}, ValueError, "umap_fit_rows must be >= 10, got 3"),
        ({"umap_place": "exact"}, ProjectionError, "umap_place must be 'neighbors' or 'transform'"),
    ],
)
def test_bad_options_are_refused_by_name(
    kwargs: dict[str, object], error: type[Exception], message: str, tmp_path: Path
) -> None:
    with pytest.raises(error, match=message):
        map_coordinates(_run(), home=tmp_path, **kwargs)  # type: ignore[arg-type]


# --- the loader's embedding column (the fast path for Parquet list columns) ----------------------


def _parquet_with_embedding(column: object) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "data_row_id": ["a", "b", "c"],
            "prob_x": [0.5, 0.5, 0.5],
            "prob_y": [0.5, 0.5, 0.5],
            "embedding": column,
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["fixed", "list", "ints"])
def test_parquet_list_embeddings_load_as_float32_rows(kind: str) -> None:
    import pyarrow as pa

    rows = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    column = {
        "fixed": pa.array(rows, pa.list_(pa.float32(), 2)),
        "list": pa.array(rows, pa.list_(pa.float64())),
        "ints": pa.array([[1, 2], [3, 4], [5, 6]], pa.list_(pa.int64())),
    }[kind]
    run = load_run(_parquet_with_embedding(column), filename="e.parquet")
    assert run.embedding is not None and run.embedding.dtype == np.float32
    assert run.embedding.tolist() == rows


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[1.0, 2.0], [3.0], [5.0, 6.0]], "row 2, field 'embedding': holds 1 values, expected 2"),
        ([[1.0, float("nan")], [3.0, 1.0], [5.0, 6.0]], "row 1, field 'embedding': NaN or inf"),
        ([[1.0, 2.0], None, [5.0, 6.0]], "row 2, field 'embedding': holds 0 values, expected 2"),
    ],
)
def test_bad_parquet_embeddings_name_the_row(rows: list[object], message: str) -> None:
    import pyarrow as pa

    with pytest.raises(RunValidationError, match=message):
        load_run(_parquet_with_embedding(pa.array(rows)), filename="e.parquet")
