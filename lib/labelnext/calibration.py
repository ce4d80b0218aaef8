"""Calibration: do the model's probabilities mean what they say, on the rows with labels?

Why one module of this length: the metrics and the temperature fit share the input checks and
the numerically careful softmax / sigmoid helpers; most of the length is docstrings with examples.

Uncertainty sampling ranks rows by the model's probabilities, so it is only as good as they are.
On labeled rows (imported labels, or a run's ``ground_truth``) this module measures

* the **reliability diagram**: rows binned by confidence; per bin the mean confidence, the
  accuracy and the count (:func:`reliability_diagram`);
* the **expected calibration error** ``ECE = sum_b (n_b / N) |accuracy_b - confidence_b|`` over
  15 equal-width bins, or over 15 equal-mass bins (``adaptive=True``), on the top label
  (:func:`expected_calibration_error`); one-vs-rest per class (:func:`classwise_ece`);
  **lower is better**, 0 is perfect;
* the multi-class **Brier score** ``mean over rows of sum_c (p_c - y_c)^2``, in [0, 2], lower is
  better (:func:`brier_score`);
* **temperature scaling** (Guo et al., 2017): one scalar ``T`` fitted on the labeled rows by
  minimising the negative log-likelihood of ``softmax(z / T)``; ``T > 1`` softens an
  over-confident model, ``T < 1`` sharpens an under-confident one, and the ranking of classes
  within a row never changes (:func:`fit_temperature`, :func:`calibrated_probabilities`).

Bins are right-closed, ``(lo, hi]``, with 0 in the first bin: the same rule as scikit-learn's
``calibration_curve``. Nothing here needs scipy: the log-likelihood is convex in ``1 / T``, so
the temperature is found by a bracketed Newton search on its derivative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from labelnext.runs import ModelRun

__all__ = [
    "ECE_BINS",
    "ECE_WARNING_MIN_ROWS",
    "ECE_WARNING_THRESHOLD",
    "CalibrationReport",
    "ReliabilityDiagram",
    "TemperatureFit",
    "brier_score",
    "calibrated_probabilities",
    "calibration_report",
    "classwise_ece",
    "ece_warning",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_diagram",
]

ECE_BINS = 15
ECE_WARNING_THRESHOLD = 0.05
"""ECE above this (confidence off from accuracy by more than 5 points, weighted over the bins)
makes :func:`ece_warning` warn. Well-calibrated image classifiers reach 0.01-0.03 after
temperature scaling (Guo et al., 2017); uncalibrated deep nets are often at 0.05-0.15."""
ECE_WARNING_MIN_ROWS = 50
"""Fewer labeled rows than this give too noisy an ECE to warn about."""
TEMPERATURE_BOUNDS = (0.05, 20.0)
PROBABILITY_FLOOR = 1e-12
"""Probabilities are clipped to this before their logarithm, so a 0 has a finite logit."""
_BLOCK_ROWS = 65_536
_TASKS = ("classification", "multilabel")

Floats = NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ReliabilityDiagram:
    """Confidence bins and how often the model was right in each.

    Attributes
    ----------
    bin_edges : ndarray of shape (n_bins + 1,)
        Equal-width: ``0, 1/n_bins, ..., 1``. Equal-mass: the lowest confidence of each bin, then
        the highest confidence overall.
    mean_confidence : ndarray of shape (n_bins,)
        Mean confidence of the rows in each bin; NaN for an empty bin.
    accuracy : ndarray of shape (n_bins,)
        Fraction of rows in each bin whose outcome is positive (top label right); NaN if empty.
    counts : ndarray of shape (n_bins,)
        Rows in each bin.
    """

    bin_edges: Floats
    mean_confidence: Floats
    accuracy: Floats
    counts: NDArray[np.int64]

    @property
    def ece(self) -> float:
        """``sum_b (n_b / N) |accuracy_b - mean_confidence_b|`` over the non-empty bins."""
        filled = self.counts > 0
        total = int(self.counts.sum())
        if total == 0:
            return math.nan
        gaps = np.abs(self.accuracy[filled] - self.mean_confidence[filled])
        return float((self.counts[filled] * gaps).sum() / total)


@dataclass(frozen=True)
class TemperatureFit:
    """A fitted temperature and what it does on the rows it was fitted on.

    ``nll_*`` is the mean negative log-likelihood of the true labels (lower is better);
    ``ece_*`` the top-label ECE over 15 equal-width bins, before (T = 1) and after.
    ``source`` says what was scaled: ``"logits"``, ``"log_probabilities"`` (which softmax to
    the same probabilities as the logits they came from, up to :data:`PROBABILITY_FLOOR`) or,
    for multi-label, ``"logits_of_probabilities"`` (``log(p / (1 - p))``, the sigmoid's logits).
    """

    temperature: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    n_rows: int
    source: str
    task: str = "classification"


# --------------------------------------------------------------------------------------------
# Input checks (once, in the public functions)


def _confidences(values: ArrayLike, name: str) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: calibration needs at least one labeled row")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ValueError(f"{name} must hold finite values in [0, 1]")
    return array


def _outcomes(values: ArrayLike, n: int, name: str) -> Floats:
    array = np.asarray(values)
    if array.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {array.shape}")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must hold booleans or 0/1")
    return array.astype(np.float64)


def _check_bins(n_bins: int) -> None:
    if not isinstance(n_bins, int | np.integer) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")


def _probabilities(values: ArrayLike, name: str = "probabilities") -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n_rows >= 1, n_classes >= 2), got {array.shape}")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ValueError(f"{name} must hold finite values in [0, 1]")
    return array


def _class_labels(labels: ArrayLike, n_rows: int, n_classes: int) -> NDArray[np.intp]:
    array = np.asarray(labels)
    if array.shape != (n_rows,):
        raise ValueError(f"labels must have shape ({n_rows},), got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"labels must be class indices (integers), got dtype {array.dtype}; map class "
            "names to their position in the run's classes first"
        )
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got {array.min()}..{array.max()}")
    return array.astype(np.intp)


def _binary_labels(labels: ArrayLike, shape: tuple[int, ...]) -> Floats:
    array = np.asarray(labels)
    if array.shape != shape:
        raise ValueError(f"multi-label labels must have shape {shape}, got {array.shape}")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError("multi-label labels must hold booleans or 0/1 per class")
    return array.astype(np.float64)


def _check_task(task: str) -> None:
    if task not in _TASKS:
        raise ValueError(f"task must be one of {', '.join(_TASKS)}, got {task!r}")


# --------------------------------------------------------------------------------------------
# Reliability and ECE


def reliability_diagram(
    confidence: ArrayLike,
    correct: ArrayLike,
    *,
    n_bins: int = ECE_BINS,
    adaptive: bool = False,
) -> ReliabilityDiagram:
    """Bin rows by confidence and compare each bin's mean confidence with its accuracy.

    Parameters
    ----------
    confidence : array-like of shape (n_rows,)
        The probability the model gave its answer (top-label confidence, or a class's
        probability for a one-vs-rest or binary diagram), in [0, 1].
    correct : array-like of shape (n_rows,)
        Whether the answer was right (bool or 0/1).
    n_bins : int, default=15
    adaptive : bool, default=False
        Equal-mass bins (each holds ``n_rows / n_bins`` rows, in confidence order) instead of
        equal-width bins over [0, 1].

    Returns
    -------
    ReliabilityDiagram

    Examples
    --------
    >>> d = reliability_diagram([0.1, 0.3, 0.8, 0.9], [0, 1, 1, 1], n_bins=2)
    >>> d.counts.tolist(), d.accuracy.tolist()
    ([2, 2], [0.5, 1.0])
    >>> round(d.ece, 3)  # (2 * |0.5 - 0.2| + 2 * |1.0 - 0.85|) / 4
    0.225
    """
    _check_bins(n_bins)
    conf = _confidences(confidence, "confidence")
    outcome = _outcomes(correct, len(conf), "correct")
    return _diagram(conf, outcome, n_bins, adaptive)


def _diagram(conf: Floats, outcome: Floats, n_bins: int, adaptive: bool) -> ReliabilityDiagram:
    if adaptive:
        order = np.argsort(conf, kind="stable")
        chunks = np.array_split(order, n_bins)
        bins = np.empty(len(conf), dtype=np.intp)
        lows: list[float] = []
        for b, chunk in enumerate(chunks):
            bins[chunk] = b
            lows.append(float(conf[chunk[0]]) if len(chunk) else (lows[-1] if lows else 0.0))
        edges = np.asarray([*lows, conf.max()], dtype=np.float64)
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        bins = np.searchsorted(edges[1:-1], conf, side="left")
    counts = np.bincount(bins, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, weights=conf, minlength=n_bins) / counts
        accuracy = np.bincount(bins, weights=outcome, minlength=n_bins) / counts
    return ReliabilityDiagram(
        bin_edges=edges, mean_confidence=mean_conf, accuracy=accuracy, counts=counts
    )


def _top_label(p: Floats, labels: NDArray[np.intp]) -> tuple[Floats, Floats]:
    predicted = p.argmax(axis=1)
    return p[np.arange(len(p)), predicted], (predicted == labels).astype(np.float64)


def expected_calibration_error(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    n_bins: int = ECE_BINS,
    adaptive: bool = False,
) -> float:
    """Top-label expected calibration error; lower is better, 0 = calibrated.

    Parameters
    ----------
    probabilities : array-like of shape (n_rows, n_classes)
        Class probabilities (rows sum to 1).
    labels : array-like of shape (n_rows,)
        The true class of each row, as an index into the columns.
    n_bins : int, default=15
    adaptive : bool, default=False
        Equal-mass bins instead of equal-width ones.

    Returns
    -------
    float
        ``sum_b (n_b / N) |accuracy_b - confidence_b|`` with confidence the top probability and
        accuracy whether the top class is the label, in [0, 1].

    Examples
    --------
    >>> p = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]
    >>> round(expected_calibration_error(p, [0, 1, 1, 0], n_bins=5), 3)
    0.25
    """
    _check_bins(n_bins)
    p = _probabilities(probabilities)
    conf, correct = _top_label(p, _class_labels(labels, len(p), p.shape[1]))
    return _diagram(conf, correct, n_bins, adaptive).ece


def classwise_ece(probabilities: ArrayLike, labels: ArrayLike, *, n_bins: int = ECE_BINS) -> Floats:
    """One-vs-rest ECE of each class: is ``p_k`` the frequency of class ``k``? Lower is better.

    Parameters
    ----------
    probabilities : array-like of shape (n_rows, n_classes)
        Class probabilities (classification) or independent per-class probabilities
        (multi-label).
    labels : array-like of shape (n_rows,) or (n_rows, n_classes)
        Class indices (classification) or a 0/1 matrix (multi-label).
    n_bins : int, default=15

    Returns
    -------
    ndarray of shape (n_classes,)
        Equal-width ECE of ``p[:, k]`` against ``label == k`` for every class ``k``.
    """
    _check_bins(n_bins)
    p = _probabilities(probabilities)
    truth = _one_hot_or_binary(labels, p.shape)
    return np.asarray(
        [_diagram(p[:, k], truth[:, k], n_bins, False).ece for k in range(p.shape[1])]
    )


def _one_hot_or_binary(labels: ArrayLike, shape: tuple[int, ...]) -> Floats:
    array = np.asarray(labels)
    if array.ndim == 2:
        return _binary_labels(array, shape)
    index = _class_labels(array, shape[0], shape[1])
    truth = np.zeros(shape, dtype=np.float64)
    truth[np.arange(shape[0]), index] = 1.0
    return truth


def brier_score(probabilities: ArrayLike, labels: ArrayLike) -> float:
    """Multi-class Brier score: ``mean over rows of sum_c (p_c - y_c)^2``; lower is better.

    Parameters
    ----------
    probabilities : array-like of shape (n_rows, n_classes)
    labels : array-like of shape (n_rows,) or (n_rows, n_classes)
        Class indices, or a 0/1 matrix (multi-label: the sum runs over the independent
        per-class decisions).

    Returns
    -------
    float
        In [0, 2] for classification (0: one-hot and right; 2: one-hot and wrong).

    Examples
    --------
    >>> brier_score([[1.0, 0.0], [0.5, 0.5]], [0, 1])  # (0 + 0.25 + 0.25) / 2
    0.25
    """
    p = _probabilities(probabilities)
    truth = _one_hot_or_binary(labels, p.shape)
    return float(((p - truth) ** 2).sum(axis=1).mean())


# --------------------------------------------------------------------------------------------
# Temperature scaling


def _log_probabilities(p: Floats) -> Floats:
    return np.log(np.clip(p, PROBABILITY_FLOOR, 1.0))


def _softmax(z: Floats) -> Floats:
    shifted: Floats = z - z.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _sigmoid(z: Floats) -> Floats:
    out: Floats = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def _logit(p: Floats) -> Floats:
    clipped = np.clip(p, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    return np.asarray(np.log(clipped) - np.log1p(-clipped), dtype=np.float64)


def _nll_softmax(z: Floats, labels: NDArray[np.intp], beta: float) -> float:
    scaled = beta * z
    top = scaled.max(axis=1)
    log_norm = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
    return float((log_norm - scaled[np.arange(len(z)), labels]).mean())


def _nll_sigmoid(z: Floats, truth: Floats, beta: float) -> float:
    scaled = beta * z
    # -log sigmoid(s) = softplus(-s), -log(1 - sigmoid(s)) = softplus(s)
    loss = np.logaddexp(0.0, -scaled) * truth + np.logaddexp(0.0, scaled) * (1.0 - truth)
    return float(loss.sum(axis=1).mean())


def _slope_softmax(z: Floats, labels: NDArray[np.intp], beta: float) -> tuple[float, float]:
    """First and second derivative in ``beta`` of :func:`_nll_softmax`.

    With ``q = softmax(beta z)``: ``mean(E_q[z] - z_y)`` and ``mean(Var_q[z])`` (>= 0: convex).
    """
    q = _softmax(beta * z)
    mean_z = (q * z).sum(axis=1)
    second = (q * z * z).sum(axis=1) - mean_z**2
    return float((mean_z - z[np.arange(len(z)), labels]).mean()), float(second.mean())


def _slope_sigmoid(z: Floats, truth: Floats, beta: float) -> tuple[float, float]:
    """First and second derivative in ``beta`` of :func:`_nll_sigmoid`."""
    q = _sigmoid(beta * z)
    first = ((q - truth) * z).sum(axis=1).mean()
    second = (q * (1.0 - q) * z * z).sum(axis=1).mean()
    return float(first), float(second)


def _convex_minimum(slope: Any, low: float, high: float, *, tol: float = 1e-10) -> float:
    """The minimiser on ``[low, high]`` of a convex function given its derivatives.

    Newton's method on the first derivative, kept inside a bracket that bisection shrinks
    whenever a Newton step would leave it: a handful of passes over the data where a
    derivative-free search needs about forty.
    """
    g_low, _ = slope(low)
    if g_low >= 0:
        return low
    g_high, _ = slope(high)
    if g_high <= 0:
        return high
    a, b = low, high
    x = min(max(1.0, a), b)
    for _ in range(100):
        g, h = slope(x)
        if g > 0:
            b = x
        else:
            a = x
        step = g / h if h > 0 else math.inf
        candidate = x - step
        if not a < candidate < b:
            candidate = (a + b) / 2.0
        if abs(candidate - x) <= tol * max(1.0, abs(x)) or b - a <= tol * max(1.0, abs(x)):
            return candidate
        x = candidate
    return x


def fit_temperature(
    labels: ArrayLike,
    *,
    probabilities: ArrayLike | None = None,
    logits: ArrayLike | None = None,
    task: str = "classification",
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
    n_bins: int = ECE_BINS,
) -> TemperatureFit:
    """Fit one temperature ``T`` on labeled rows by minimising the negative log-likelihood.

    Parameters
    ----------
    labels : array-like of shape (n_rows,) or (n_rows, n_classes)
        Class indices (classification) or a 0/1 matrix (multi-label).
    probabilities : array-like of shape (n_rows, n_classes), optional
        Used when ``logits`` is not given: scaled as log probabilities (a softmax of
        ``log p / T`` equals the softmax of ``logits / T`` for the logits ``p`` came from).
    logits : array-like of shape (n_rows, n_classes), optional
        The model's logits, when the run has them.
    task : {"classification", "multilabel"}, default="classification"
        Softmax over classes, or an independent sigmoid per class.
    bounds : (float, float), default=(0.05, 20.0)
        The range searched for ``T``.
    n_bins : int, default=15
        Bins of the ECE reported before and after.

    Returns
    -------
    TemperatureFit
        ``temperature`` > 1 when the model was over-confident.

    Raises
    ------
    ValueError
        If neither or both of ``probabilities`` and ``logits`` are given, or shapes, values or
        bounds are invalid.
    """
    _check_task(task)
    _check_bins(n_bins)
    if (probabilities is None) == (logits is None):
        raise ValueError("give exactly one of probabilities and logits")
    low, high = (float(b) for b in bounds)
    if not 0 < low < high or not math.isfinite(high):
        raise ValueError(f"bounds must be 0 < low < high < inf, got {bounds!r}")
    if logits is not None:
        z = np.asarray(logits, dtype=np.float64)
        if z.ndim != 2 or z.shape[0] == 0 or not np.isfinite(z).all():
            raise ValueError(f"logits must be finite, of shape (n_rows, n_classes), got {z.shape}")
        source = "logits"
    else:
        assert probabilities is not None  # exactly one of the two was given
        p = _probabilities(probabilities)
        z = _log_probabilities(p) if task == "classification" else _logit(p)
        source = "log_probabilities" if task == "classification" else "logits_of_probabilities"
    if task == "classification":
        index = _class_labels(labels, z.shape[0], z.shape[1])

        def nll(beta: float) -> float:
            return _nll_softmax(z, index, beta)

        def slope(beta: float) -> tuple[float, float]:
            return _slope_softmax(z, index, beta)

        def ece(beta: float) -> float:
            conf, correct = _top_label(_softmax(beta * z), index)
            return _diagram(conf, correct, n_bins, False).ece

    else:
        truth = _binary_labels(labels, z.shape)

        def nll(beta: float) -> float:
            return _nll_sigmoid(z, truth, beta)

        def slope(beta: float) -> tuple[float, float]:
            return _slope_sigmoid(z, truth, beta)

        def ece(beta: float) -> float:
            q = _sigmoid(beta * z).ravel()
            return _diagram(q, truth.ravel(), n_bins, False).ece

    beta = _convex_minimum(slope, 1.0 / high, 1.0 / low)
    return TemperatureFit(
        temperature=1.0 / beta,
        nll_before=nll(1.0),
        nll_after=nll(beta),
        ece_before=ece(1.0),
        ece_after=ece(beta),
        n_rows=int(z.shape[0]),
        source=source,
        task=task,
    )


def calibrated_probabilities(
    probs_or_logits: ArrayLike,
    temperature: float,
    *,
    logits: bool = False,
    task: str = "classification",
) -> NDArray[np.floating[Any]]:
    """Probabilities after temperature scaling: ``softmax(z / T)`` (or ``sigmoid(z / T)``).

    What scoring calls when a :class:`~labelnext.uncertainty.Scoring` carries a temperature:
    the result has the input's shape and float dtype (float32 stays float32), is computed in
    blocks of rows, and keeps every row's class order, so only the spread of the scores changes.

    Parameters
    ----------
    probs_or_logits : array-like of shape (n_rows, n_classes)
        Probabilities (default; scaled through their logarithm, or their logit for multi-label)
        or logits (``logits=True``).
    temperature : float
        ``T > 0``; 1 leaves probabilities as they are (renormalised).
    logits : bool, default=False
    task : {"classification", "multilabel"}, default="classification"

    Returns
    -------
    ndarray of shape (n_rows, n_classes)

    Examples
    --------
    >>> q = calibrated_probabilities([[0.9, 0.1]], 2.0)  # softmax(log p / 2) = sqrt(p), renormed
    >>> [round(float(x), 4) for x in q[0]]
    [0.75, 0.25]
    """
    _check_task(task)
    if not isinstance(temperature, int | float | np.floating) or not 0 < temperature < math.inf:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    values = np.asarray(probs_or_logits)
    if values.ndim != 2:
        raise ValueError(f"probs_or_logits must have shape (n_rows, n_classes), got {values.shape}")
    dtype = values.dtype if values.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    if not logits:
        _probabilities(values[: min(len(values), _BLOCK_ROWS)], "probs_or_logits")
    beta = 1.0 / float(temperature)
    out = np.empty(values.shape, dtype=dtype)
    for start in range(0, len(values), _BLOCK_ROWS):
        block = np.asarray(values[start : start + _BLOCK_ROWS], dtype=np.float64)
        if not np.isfinite(block).all():
            raise ValueError(f"probs_or_logits holds NaN or infinite values near row {start + 1}")
        if task == "classification":
            z = block if logits else _log_probabilities(block)
            out[start : start + len(block)] = _softmax(beta * z)
        else:
            z = block if logits else _logit(block)
            out[start : start + len(block)] = _sigmoid(beta * z)
    return out


# --------------------------------------------------------------------------------------------
# The Home page's warning and a whole-run report


def ece_warning(
    ece: float,
    *,
    n_rows: int | None = None,
    threshold: float = ECE_WARNING_THRESHOLD,
    min_rows: int = ECE_WARNING_MIN_ROWS,
) -> str | None:
    """A warning when the run's ECE on labeled rows is poor, else None.

    Parameters
    ----------
    ece : float
        Top-label ECE (15 equal-width bins) on the labeled rows.
    n_rows : int, optional
        How many labeled rows it was measured on; below ``min_rows`` nothing is said (too few
        rows for the figure to mean much).
    threshold : float, default=0.05
        :data:`ECE_WARNING_THRESHOLD`: warn when ``ece > threshold``.
    min_rows : int, default=50

    Examples
    --------
    >>> ece_warning(0.02) is None
    True
    >>> ece_warning(0.123, n_rows=300)[:58]
    'Probabilities look poorly calibrated: ECE 0.123 on 300 lab'
    """
    if not isinstance(ece, int | float | np.floating) or math.isnan(ece):
        return None
    if n_rows is not None and n_rows < min_rows:
        return None
    if ece <= threshold:
        return None
    on = f" on {n_rows:,} labeled rows" if n_rows is not None else " on the labeled rows"
    return (
        f"Probabilities look poorly calibrated: ECE {ece:.3f}{on} (above {threshold:g}). "
        "Uncertainty ranks may mislead; fit a temperature on the labeled rows and score with "
        "the calibrated probabilities."
    )


@dataclass(frozen=True, eq=False)
class CalibrationReport:
    """Calibration of one run on its labeled rows (what Home and Compare show).

    ``classwise_ece`` maps each class to its one-vs-rest ECE; ``accuracy`` and
    ``mean_confidence`` are over the labeled rows (multi-label: over every row-class decision);
    ``warning`` is :func:`ece_warning` of ``ece``.
    """

    task: str
    n_rows: int
    accuracy: float
    mean_confidence: float
    ece: float
    adaptive_ece: float
    brier: float
    classwise_ece: dict[str, float]
    diagram: ReliabilityDiagram
    adaptive_diagram: ReliabilityDiagram
    temperature: TemperatureFit | None
    warning: str | None


def calibration_report(
    run: ModelRun,
    labels: Mapping[str, Any],
    *,
    n_bins: int = ECE_BINS,
    fit: bool = True,
) -> CalibrationReport | None:
    """Calibration figures of ``run`` on the rows ``labels`` gives, or None if none can be made.

    Parameters
    ----------
    run : ModelRun
        A classification or multi-label run with probabilities.
    labels : mapping of data_row_id to label
        A class name (classification) or a collection of class names (multi-label); rows not in
        the run are ignored.
    n_bins : int, default=15
    fit : bool, default=True
        Also fit a temperature.

    Returns
    -------
    CalibrationReport or None
        None when the run has no probabilities (top-1 only, detection) or no labeled row.

    Raises
    ------
    ValueError
        If a label names a class the run does not have.
    """
    _check_bins(n_bins)
    if run.probabilities is None or run.task not in _TASKS:
        return None
    positions = run.id_index.get_indexer(pd.Index(list(labels)))
    present = positions >= 0
    if not present.any():
        return None
    rows = positions[present]
    given = [v for v, ok in zip(labels.values(), present, strict=True) if ok]
    p = np.asarray(run.probabilities[rows], dtype=np.float64)
    lookup = {name: k for k, name in enumerate(run.classes)}
    if run.task == "classification":
        unknown = sorted({str(v) for v in given if str(v) not in lookup})
        if unknown:
            raise ValueError(f"labels name classes the run does not have: {', '.join(unknown)}")
        truth: NDArray[Any] = np.asarray([lookup[str(v)] for v in given], dtype=np.intp)
        conf, correct = _top_label(p, truth)
    else:
        truth = np.zeros(p.shape, dtype=np.float64)
        for i, names in enumerate(given):
            names = (names,) if isinstance(names, str) else tuple(names)
            unknown = sorted({str(n) for n in names if str(n) not in lookup})
            if unknown:
                raise ValueError(f"labels name classes the run does not have: {', '.join(unknown)}")
            truth[i, [lookup[str(n)] for n in names]] = 1.0
        conf, correct = p.ravel(), truth.ravel()
    diagram = _diagram(conf, correct, n_bins, False)
    ece = diagram.ece
    return CalibrationReport(
        task=run.task,
        n_rows=len(rows),
        accuracy=float(correct.mean()),
        mean_confidence=float(conf.mean()),
        ece=ece,
        adaptive_ece=_diagram(conf, correct, n_bins, True).ece,
        brier=brier_score(p, truth),
        classwise_ece=dict(
            zip(run.classes, classwise_ece(p, truth, n_bins=n_bins).tolist(), strict=True)
        ),
        diagram=diagram,
        adaptive_diagram=_diagram(conf, correct, n_bins, True),
        temperature=fit_temperature(truth, probabilities=p, task=run.task, n_bins=n_bins)
        if fit
        else None,
        warning=ece_warning(ece, n_rows=len(rows)),
    )
