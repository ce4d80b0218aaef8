"""Simulate the labeling loop on rows that already have labels: what active learning saves here.

Why one module of this length: the protocol, the loop and the statistics (bands, labels to
target, paired bootstrap) are one experiment whose parts share the seeds and the data split.

Where a run has ground truth for some of its rows (a ``ground_truth`` column, a labels file its
``run.json`` names, or labels imported into the ledger), :func:`simulate` replays the loop on
them and measures, per strategy, how test accuracy grows with the number of labels.

Protocol
--------
1. The labeled rows are split **once** into a pool and a held-out test set (stratified,
   ``test_fraction`` of the rows, seeded by ``root_seed``).
2. The full-pool reference: the model trained on the whole pool; the **target** is ``target``
   (default 95%) of its test accuracy.
3. Per seed, an ``initial`` random labeled set (re-drawn row by row until it holds two classes, so
   a model can be fitted), shared by every strategy of that seed: the runs are **paired**.
4. Rounds of ``batch`` rows, up to ``budget`` labels, picked by each strategy: ``random`` (the next
   rows of one seeded order of the pool), an uncertainty strategy of
   :data:`labelnext.uncertainty.STRATEGIES` (its ``top`` batch), or a batch method of
   :func:`labelnext.batch.select_batch` (``diverse``, ``cluster``, ``typical``, ``auto``;
   ``method:strategy`` picks the uncertainty under it, default margin). A model (scikit-learn
   ``LogisticRegression`` by default, any estimator with ``predict_proba``) is refitted after
   every round, warm-started from the last round's fit where the estimator allows; its test
   accuracy and macro-F1 are recorded.

Results (:class:`SimulationResult`)
-----------------------------------
Learning curves per strategy with the median and an inter-quantile band over seeds
(:meth:`~SimulationResult.bands`); the labels each strategy needs to reach the target, with
their spread; the **savings versus random**: per seed ``1 - labels(strategy) / labels(random)``
(a curve that never reaches the target counts as the budget, which makes the figure a bound and
the table says so), averaged over seeds with a paired bootstrap interval; and a verdict in plain
words that says "no reliable difference from random at this budget" when the interval covers 0.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.normal(-2, 1, (150, 2)), rng.normal(2, 1, (150, 2))])
>>> y = np.repeat(["a", "b"], 150)
>>> data = SimulationData.from_arrays(x, y)
>>> result = simulate(data, strategies=["random", "margin"], seeds=3, batch=10, budget=40,
...                   initial=10)
>>> sorted(result.summary()["strategy"])
['margin', 'random']
>>> int(result.curves["labels"].max())
40
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from labelnext.batch import METHODS as BATCH_METHODS
from labelnext.batch import pick_batch
from labelnext.embeddings import EmbeddingError, embedding_for
from labelnext.errors import SimulationCancelledError, SimulationError
from labelnext.paths import contain

if TYPE_CHECKING:
    from labelnext.runs import ModelRun

__all__ = [
    "DEFAULT_STRATEGIES",
    "RANDOM",
    "UNCERTAINTY_STRATEGIES",
    "Curve",
    "Picker",
    "Progress",
    "RoundContext",
    "SimulationData",
    "SimulationResult",
    "SimulationSettings",
    "declared_ground_truth",
    "default_estimator",
    "draw_seed",
    "learning_curve",
    "paired_bootstrap",
    "parse_strategy",
    "simulate",
    "simulation_data",
    "summary_text",
]

RANDOM = "random"
UNCERTAINTY_STRATEGIES = ("least_confidence", "margin", "ratio", "entropy")
"""Strategies over one model's class probabilities (ensemble strategies need members)."""
DEFAULT_STRATEGIES = ("random", "margin", "diverse", "cluster", "typical", "auto")
"""Random and every batch method (``margin`` is ``top`` under margin)."""
DEFAULT_UNDER = "margin"
BOOTSTRAP_SAMPLES = 2000


# -- the data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationData:
    """The rows a simulation runs on: features, their true labels and ids.

    Attributes
    ----------
    features : ndarray of shape (n_rows, dim), float32
        The run's embedding (or its named fallback) of each labeled row.
    labels : ndarray of shape (n_rows,), object
        Each row's true class (text).
    ids : ndarray of shape (n_rows,), object
        ``data_row_id`` of each row: ties in the batch methods break by it.
    source : str
        Where the features came from (``"run"``, ``"pixels-16x16-pca32"``, ``"arrays"``).
    name : str
        The run's name, for messages.
    content_hash : str
        The run's content hash plus a digest of the labels: keys a cached result.
    unmatched : int
        Labels given for rows the run does not have (ignored).
    """

    features: NDArray[np.float32]
    labels: NDArray[np.object_]
    ids: NDArray[np.object_]
    source: str = "arrays"
    name: str = "arrays"
    content_hash: str = ""
    unmatched: int = 0

    @classmethod
    def from_arrays(
        cls, features: ArrayLike, labels: ArrayLike, ids: ArrayLike | None = None
    ) -> SimulationData:
        """Data from plain arrays (ids default to ``row-00000``...)."""
        x = np.asarray(features, dtype=np.float32)
        y = np.asarray(labels).astype(str).astype(object)
        if x.ndim != 2 or len(x) != len(y):
            raise SimulationError(
                f"features must be (n_rows, dim) with one label per row; got features of shape "
                f"{x.shape} and {len(y)} label(s)"
            )
        if not np.isfinite(x).all():
            raise SimulationError("features hold NaN or infinite values")
        names = (
            np.array([f"row-{i:05d}" for i in range(len(y))], dtype=object)
            if ids is None
            else np.asarray(ids, dtype=object)
        )
        return cls(features=x, labels=y, ids=names)

    @property
    def n_rows(self) -> int:
        return len(self.labels)


def declared_ground_truth(run: ModelRun) -> tuple[dict[str, str], str] | None:
    """The labels file a run folder's ``run.json`` names under ``"ground_truth"``, if any.

    Returns ``({data_row_id: label}, file)`` or None. The file must lie inside the run's allowed
    roots (:func:`labelnext.paths.contain`) and is read by :func:`labelnext.labels.read_labels`.
    """
    import json

    from labelnext.labels import read_labels

    source = Path(str(run.source))
    folder = source if source.is_dir() else source.parent
    config = folder / "run.json"
    if not config.is_file():
        return None
    try:
        named = json.loads(config.read_text(encoding="utf-8")).get("ground_truth")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(named, str) or not named:
        return None
    roots = list(run.allowed_roots) or [folder.resolve()]
    path = contain(folder / named, roots, what="ground truth", shown=named)
    labels = read_labels(path, classes=run.classes, task="classification")
    return {str(k): str(v) for k, v in labels.mapping().items()}, named


def simulation_data(
    run: ModelRun,
    labels: Mapping[str, object] | None = None,
    *,
    home: Path | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationData:
    """The labeled rows of ``run`` with their features, ready for :func:`simulate`.

    Parameters
    ----------
    run : ModelRun
        A classification run.
    labels : mapping of data_row_id to label, optional
        The true labels (for example the ledger's imported labels, or
        ``read_labels(file).mapping()``). Default: the run's ``ground_truth`` column, else the
        labels file its ``run.json`` names under ``"ground_truth"``.
    home : path, optional
        Where the embedding fallback is cached (default ``$LABELNEXT_HOME``).
    progress : callable(done, total), optional
        Called while the pixel fallback reads images.

    Raises
    ------
    SimulationError
        If the run is not single-label classification, has no labels, or has no embedding and
        no images (the message says how to add what is missing).
    """
    if run.task != "classification":
        raise SimulationError(
            f"Run '{run.name}' is a {run.task} run; simulate replays single-label "
            "classification only."
        )
    source_of_labels = "the labels given"
    if labels is None:
        if run.ground_truth is not None:
            labels = {
                str(i): v
                for i, v in zip(run.ids, run.ground_truth, strict=True)
                if v is not None and str(v) != ""
            }
            source_of_labels = "its ground_truth column"
        else:
            declared = declared_ground_truth(run)
            if declared is not None:
                labels, named = declared
                source_of_labels = f"the ground truth file {named!r}"
    if not labels:
        raise SimulationError(
            f"Run '{run.name}' has no labels to simulate with: add a 'ground_truth' column to "
            'its predictions file, name a labels file in its run.json ("ground_truth": '
            '"labels.csv"), or pass labels (labelnext simulate RUN --labels FILE; the labels '
            "imported into the ledger)."
        )
    index = run.id_index
    keys = [str(k) for k in labels]
    positions = index.get_indexer(pd.Index(keys))
    found = positions >= 0
    if not found.any():
        raise SimulationError(
            f"None of the {len(keys):,} labels from {source_of_labels} is for a row of run "
            f"'{run.name}' (e.g. {keys[0]!r}); check that the ids are data_row_ids of this run."
        )
    rows = positions[found]
    order = np.argsort(rows, kind="stable")
    rows = rows[order]
    values = np.array([str(labels[k]) for k, ok in zip(keys, found, strict=True) if ok])[order]
    try:
        matrix, source = embedding_for(run, home=home, progress=progress)
    except EmbeddingError as exc:
        raise SimulationError(
            f"{exc} Simulate trains its model on the embedding: add an 'embedding' column "
            "(a list of floats per row) or an 'image' column for the pixel fallback."
        ) from exc
    import hashlib

    digest = hashlib.sha256()
    for i, v in zip(run.ids[rows], values, strict=True):
        digest.update(f"{i}\t{v}\n".encode())
    return SimulationData(
        features=np.ascontiguousarray(matrix[rows], dtype=np.float32),
        labels=values.astype(object),
        ids=np.asarray(run.ids[rows], dtype=object),
        source=source,
        name=run.name,
        content_hash=f"{run.content_hash}-{digest.hexdigest()[:16]}",
        unmatched=int((~found).sum()),
    )


# -- strategies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundContext:
    """What a custom strategy (:data:`Picker`) sees in one round.

    ``probabilities`` are the model's on the unlabeled pool rows (columns: ``model_classes``,
    codes into :attr:`SimulationResult.classes`); ``unlabeled`` / ``labeled`` are pool positions.
    ``pool_labels`` are the true codes of every pool row: an "oracle" may peek, a real strategy
    must not. ``seed`` seeds this round's random steps; ``repetition`` is the simulation's seed
    (0 to ``seeds - 1``).
    """

    round: int
    k: int
    seed: int
    repetition: int
    probabilities: NDArray[np.float64]
    model_classes: NDArray[np.int64]
    features: NDArray[np.float32]
    unlabeled: NDArray[np.intp]
    labeled: NDArray[np.intp]
    pool_labels: NDArray[np.int64]
    ids: NDArray[np.object_]


class Picker(Protocol):
    """A custom strategy: the positions into ``context.unlabeled`` of the ``k`` rows to label."""

    def __call__(self, context: RoundContext) -> ArrayLike: ...


StrategyLike = str | tuple[str, Picker]


def parse_strategy(spec: str) -> tuple[str, str]:
    """``(method, uncertainty)`` of a strategy name.

    ``random``; an uncertainty strategy (``margin`` -> ``("top", "margin")``); a batch method
    (``auto`` -> ``("auto", "margin")``); or ``method:strategy`` (``diverse:entropy``).

    >>> parse_strategy("entropy"), parse_strategy("cluster:ratio")
    (('top', 'entropy'), ('cluster', 'ratio'))
    """
    valid = (
        f"valid: random, {', '.join(UNCERTAINTY_STRATEGIES)}, {', '.join(BATCH_METHODS)}, or "
        f"method:strategy (e.g. diverse:entropy)"
    )
    if not isinstance(spec, str) or not spec:
        raise SimulationError(f"strategy must be a non-empty name, got {spec!r}; {valid}")
    if spec == RANDOM:
        return RANDOM, ""
    if spec in UNCERTAINTY_STRATEGIES:
        return "top", spec
    method, _, under = spec.partition(":")
    if method in BATCH_METHODS and (not under or under in UNCERTAINTY_STRATEGIES):
        return method, under or DEFAULT_UNDER
    raise SimulationError(f"unknown strategy {spec!r}; {valid}")


# -- the loop -------------------------------------------------------------------------------------


def default_estimator() -> Any:
    """scikit-learn ``LogisticRegression(C=1.0, max_iter=1000)``: the model every round fits."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=1000)


def _check_estimator(estimator: Any) -> None:
    for name in ("fit", "predict_proba", "get_params"):
        if not callable(getattr(estimator, name, None)):
            raise SimulationError(
                f"estimator {type(estimator).__name__} has no {name}(); simulate needs a "
                "scikit-learn estimator with fit and predict_proba"
            )


@dataclass
class Curve:
    """One learning curve: after every fit, the labels used and the test scores.

    ``methods`` holds, per round that picked, the method that ran (``auto`` resolved). The
    ``*_seconds`` are CPU seconds of the thread that ran the loop (steady on a shared machine;
    BLAS runs in that thread, limited to one thread by :func:`simulate`).
    """

    labels: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    select_seconds: float = 0.0
    score_seconds: float = 0.0


class _Model:
    """The estimator of one learning curve: refitted each round, warm where it can be."""

    def __init__(self, estimator: Any, warm_start: bool) -> None:
        from sklearn.base import clone

        self._clone = clone
        self._template = estimator
        self._warm = warm_start and "warm_start" in estimator.get_params()
        self._model: Any = None
        self._classes: NDArray[np.int64] | None = None

    def fit(self, x: NDArray[np.float32], y: NDArray[np.int64]) -> Any:
        classes = np.unique(y)
        same = self._classes is not None and np.array_equal(classes, self._classes)
        if self._model is None or not (self._warm and same):
            self._model = self._clone(self._template)
            if self._warm:
                self._model.set_params(warm_start=True)
        self._classes = classes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on tiny sets: the curve shows it
            self._model.fit(x, y)
        return self._model


def _macro_f1(truth: NDArray[np.int64], predicted: NDArray[np.int64], n_classes: int) -> float:
    """Macro-F1 over every class (a class never predicted scores 0)."""
    tp = np.bincount(truth[truth == predicted], minlength=n_classes).astype(np.float64)
    support = np.bincount(truth, minlength=n_classes)
    guessed = np.bincount(predicted, minlength=n_classes)
    denominator = support + guessed
    f1 = np.divide(2 * tp, denominator, out=np.zeros(n_classes), where=denominator > 0)
    present = (support > 0) | (guessed > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def learning_curve(
    pool_x: NDArray[np.float32],
    pool_y: NDArray[np.int64],
    test_x: NDArray[np.float32],
    test_y: NDArray[np.int64],
    *,
    strategy: StrategyLike,
    initial: NDArray[np.intp],
    batch: int,
    budget: int,
    random_order: NDArray[np.intp] | None = None,
    seed_root: Sequence[int] = (0,),
    estimator: Any = None,
    warm_start: bool = True,
    ids: NDArray[np.object_] | None = None,
    n_classes: int | None = None,
    on_round: Callable[[int], None] | None = None,
) -> Curve:
    """Run the labeling loop once: fit, score on the test set, pick a batch, until ``budget``.

    The loop :func:`simulate` and ``benchmarks/bench_label_efficiency.py`` share. Labels are
    integer codes; ``initial`` are pool positions labeled before the first fit; ``random``
    takes the next rows of ``random_order`` (a permutation of the other pool rows, so its curves
    at different batch sizes label the same rows). The batch methods get
    ``seed=default_rng([*seed_root, round]).integers(2**31)``. ``on_round(round)`` is called
    before each fit (it may raise to stop).

    Returns
    -------
    Curve
        One point per fit: ``labels`` from ``len(initial)`` to ``budget``.
    """
    if isinstance(strategy, tuple):
        name, picker = strategy
        method, under = "custom", ""
    else:
        name, picker = strategy, None
        method, under = parse_strategy(strategy)
    model = _Model(default_estimator() if estimator is None else estimator, warm_start)
    n_pool = len(pool_y)
    n_classes = int(max(pool_y.max(), test_y.max()) + 1) if n_classes is None else n_classes
    tie_ids = ids if ids is not None else np.arange(n_pool)
    labeled = np.zeros(n_pool, dtype=bool)
    labeled[initial] = True
    if method == RANDOM and random_order is None:
        raise SimulationError("the random strategy needs random_order")
    curve = Curve()
    n_initial = len(initial)
    round_ = 0
    while True:
        if on_round is not None:
            on_round(round_)
        tick = time.thread_time()
        fitted = model.fit(pool_x[labeled], pool_y[labeled])
        tock = time.thread_time()
        predicted = np.asarray(fitted.predict(test_x), dtype=np.int64)
        n_labels = int(labeled.sum())
        curve.labels.append(n_labels)
        curve.accuracy.append(float((predicted == test_y).mean()))
        curve.macro_f1.append(_macro_f1(test_y, predicted, n_classes))
        curve.fit_seconds += tock - tick
        curve.score_seconds += time.thread_time() - tock
        k = min(batch, budget - n_labels, n_pool - n_labels)
        if k <= 0:
            return curve
        round_ += 1
        unlabeled = np.flatnonzero(~labeled)
        if method == RANDOM:
            assert random_order is not None  # checked above
            chosen = random_order[n_labels - n_initial :][:k]
            curve.methods.append(RANDOM)
        else:
            tick = time.thread_time()
            probabilities = fitted.predict_proba(pool_x[unlabeled])
            tock = time.thread_time()
            curve.predict_seconds += tock - tick
            seed = int(np.random.default_rng([*seed_root, round_]).integers(2**31))
            if picker is not None:
                picked = _custom_pick(
                    picker,
                    name,
                    RoundContext(
                        round=round_,
                        k=k,
                        seed=seed,
                        repetition=int(seed_root[-1]),
                        probabilities=np.asarray(probabilities, dtype=np.float64),
                        model_classes=np.asarray(fitted.classes_, dtype=np.int64),
                        features=pool_x,
                        unlabeled=unlabeled,
                        labeled=np.flatnonzero(labeled),
                        pool_labels=pool_y,
                        ids=np.asarray(tie_ids, dtype=object),
                    ),
                    len(unlabeled),
                )
                curve.methods.append(name)
            else:
                pick = pick_batch(
                    probabilities,
                    pool_x[unlabeled],
                    k,
                    method=method,
                    strategy=under,
                    seed=seed,
                    labeled_embeddings=pool_x[labeled],
                    tie_ids=tie_ids[unlabeled],
                )
                picked = pick.indices
                curve.methods.append(pick.method)
            curve.select_seconds += time.thread_time() - tock
            chosen = unlabeled[picked]
        labeled[chosen] = True


def _custom_pick(picker: Picker, name: str, context: RoundContext, n: int) -> NDArray[np.intp]:
    picked = np.asarray(picker(context), dtype=np.intp).ravel()
    if (
        len(picked) != context.k
        or len(np.unique(picked)) != len(picked)
        or (len(picked) and (picked.min() < 0 or picked.max() >= n))
    ):
        raise SimulationError(
            f"strategy {name!r} returned {len(picked)} position(s); it must return "
            f"{context.k} distinct positions into the {n:,} unlabeled rows"
        )
    return picked


# -- the protocol ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationSettings:
    """The parameters of one simulation (JSON-ready; they key a cached result)."""

    strategies: tuple[str, ...]
    seeds: int
    batch: int
    budget: int
    initial: int
    target: float
    test_fraction: float
    band: tuple[float, float]
    confidence: float
    root_seed: int
    warm_start: bool
    estimator: str

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Progress:
    """Where a running simulation is: ``done`` of ``total`` rounds (fits) finished."""

    seed: int
    strategy: str
    round: int
    n_rounds: int
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


class _Cancel(Protocol):
    def is_set(self) -> bool: ...


def _check_settings(
    data: SimulationData,
    *,
    seeds: int,
    batch: int,
    budget: int,
    initial: int,
    target: float,
    test_fraction: float,
    band: tuple[float, float],
    confidence: float,
) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    for name, value, minimum in (("seeds", seeds, 1), ("batch", batch, 1), ("initial", initial, 2)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
            raise SimulationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if not 0.0 < target <= 1.0:
        raise SimulationError(
            f"target must be in (0, 1] (a share of full-pool accuracy), got {target!r}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise SimulationError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not 0.0 <= band[0] < band[1] <= 1.0:
        raise SimulationError(f"band must be two quantiles 0 <= low < high <= 1, got {band!r}")
    if not 0.0 < confidence < 1.0:
        raise SimulationError(f"confidence must be in (0, 1), got {confidence!r}")
    classes, codes = np.unique(data.labels.astype(str), return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    if len(classes) < 2:
        raise SimulationError(
            f"All {data.n_rows:,} labeled rows of '{data.name}' are of one class "
            f"({str(classes[0])!r}); a simulation needs at least two classes."
        )
    rare = [f"{str(c)!r} ({n})" for c, n in zip(classes, counts, strict=True) if n < 2]
    if rare:
        raise SimulationError(
            f"The stratified split needs at least 2 labeled rows per class; "
            f"{', '.join(rare[:10])} {'has' if len(rare) == 1 else 'have'} fewer. Label more "
            "rows of those classes, or leave them out of the labels."
        )
    n_test = max(len(classes), round(test_fraction * data.n_rows))
    n_pool = data.n_rows - n_test
    if n_pool < initial + batch or n_test >= data.n_rows:
        raise SimulationError(
            f"Too few labeled rows: {data.n_rows:,} labeled rows give a test set of {n_test:,} "
            f"and a pool of {n_pool:,}, but the initial set ({initial}) and one batch ({batch}) "
            f"need {initial + batch:,} pool rows. Label more rows or lower initial / batch."
        )
    if budget > n_pool:
        raise SimulationError(
            f"budget {budget:,} is larger than the pool of {n_pool:,} rows ({data.n_rows:,} "
            f"labeled rows minus a test set of {n_test:,}); lower the budget to at most "
            f"{n_pool:,}."
        )
    if budget < initial + batch:
        raise SimulationError(
            f"budget {budget:,} leaves no round: it must be at least initial + batch = "
            f"{initial + batch:,}"
        )
    return classes.astype(object), codes.astype(np.int64)


def draw_seed(
    pool_labels: NDArray[np.int64], initial: int, *, root_seed: int = 0, seed: int = 0
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """The initial rows and the random order of one seed, as :func:`simulate` draws them.

    ``initial`` random pool rows (the last one re-drawn from another class while they hold a
    single class, so that a model can be fitted), then a random permutation of the other rows:
    the order ``random`` labels them in. Both from ``default_rng([root_seed, 1, seed])``.
    """
    rng = np.random.default_rng([root_seed, 1, seed])
    chosen = rng.choice(len(pool_labels), initial, replace=False)
    while len(np.unique(pool_labels[chosen])) < 2:
        others = np.flatnonzero(pool_labels != pool_labels[chosen[0]])
        chosen[-1] = rng.choice(others)
    first = np.asarray(chosen, dtype=np.intp)
    rest = np.setdiff1d(np.arange(len(pool_labels)), first)
    return first, np.asarray(rng.permutation(rest), dtype=np.intp)


def simulate(
    data: SimulationData,
    *,
    strategies: Sequence[StrategyLike] = DEFAULT_STRATEGIES,
    seeds: int = 10,
    batch: int = 50,
    budget: int = 1000,
    initial: int = 20,
    target: float = 0.95,
    test_fraction: float = 0.2,
    estimator: Any = None,
    warm_start: bool = True,
    band: tuple[float, float] = (0.25, 0.75),
    confidence: float = 0.95,
    root_seed: int = 0,
    n_jobs: int = 1,
    progress: Callable[[Progress], None] | None = None,
    cancel: _Cancel | None = None,
) -> SimulationResult:
    """Simulate the labeling loop with each strategy over ``seeds`` paired repetitions.

    Parameters
    ----------
    data : SimulationData
        From :func:`simulation_data` (a run) or :meth:`SimulationData.from_arrays`.
    strategies : sequence of str or (name, Picker), default DEFAULT_STRATEGIES
        Names (see :func:`parse_strategy`) or custom pickers. ``random`` is added if missing: it
        is the baseline.
    seeds : int, default 10
        Repetitions; each draws its own initial set and random order, shared by all strategies.
    batch, budget, initial : int
        Rows per round, labels at the end, random labels at the start.
    target : float, default 0.95
        The share of full-pool accuracy a curve has to reach.
    test_fraction : float, default 0.2
        Share of the labeled rows held out for testing (at least one per class).
    estimator : scikit-learn estimator, optional
        Anything with ``fit`` and ``predict_proba``; default :func:`default_estimator`.
    warm_start : bool, default True
        Refit from the last round's coefficients where the estimator has ``warm_start``.
    band : (float, float), default (0.25, 0.75)
        Quantiles of the band around the median curve.
    confidence : float, default 0.95
        Level of the paired bootstrap interval of the savings.
    root_seed : int, default 0
        Seeds the split and every seed's draws.
    n_jobs : int, default 1
        Processes (joblib). With 1, ``progress`` is called every round and ``cancel`` is seen
        within one round; with more, both happen per finished curve.
    progress : callable(Progress), optional
    cancel : object with ``is_set()`` (a threading.Event), optional
        Raises :class:`~labelnext.errors.SimulationCancelledError` once set.

    Raises
    ------
    SimulationError
        On bad parameters or data (the message has the numbers).
    SimulationCancelledError
        If ``cancel`` was set.
    """
    started = time.perf_counter()
    named = _named_strategies(strategies)
    classes, codes = _check_settings(
        data,
        seeds=seeds,
        batch=batch,
        budget=budget,
        initial=initial,
        target=target,
        test_fraction=test_fraction,
        band=band,
        confidence=confidence,
    )
    template = default_estimator() if estimator is None else estimator
    _check_estimator(template)
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    n_test = max(len(classes), round(test_fraction * data.n_rows))
    pool, test = train_test_split(
        np.arange(data.n_rows),
        test_size=n_test,
        stratify=codes,
        random_state=int(np.random.default_rng([root_seed, 0]).integers(2**31)),
    )
    pool = np.sort(pool)
    test = np.sort(test)
    pool_x, pool_y = data.features[pool], codes[pool]
    test_x, test_y = data.features[test], codes[test]
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        full = clone(template).fit(pool_x, pool_y)
    full_accuracy = float((np.asarray(full.predict(test_x)) == test_y).mean())
    settings = SimulationSettings(
        strategies=tuple(name for name, _ in named),
        seeds=int(seeds),
        batch=int(batch),
        budget=int(budget),
        initial=int(initial),
        target=float(target),
        test_fraction=float(test_fraction),
        band=(float(band[0]), float(band[1])),
        confidence=float(confidence),
        root_seed=int(root_seed),
        warm_start=bool(warm_start),
        estimator=repr(template),
    )
    n_rounds = 1 + math.ceil((budget - initial) / batch)
    draws = [draw_seed(pool_y, initial, root_seed=root_seed, seed=seed) for seed in range(seeds)]
    tasks = [(seed, name, spec) for seed in range(seeds) for name, spec in named]
    total = len(tasks) * n_rounds
    common = {
        "batch": batch,
        "budget": budget,
        "estimator": template,
        "warm_start": warm_start,
        "ids": data.ids[pool],
        "n_classes": len(classes),
    }
    arrays = (pool_x, pool_y, test_x, test_y)
    curves: dict[tuple[int, str], Curve] = {}
    done = 0
    if n_jobs == 1:
        with threadpool_limits(1):  # BLAS threads only contend on these small fits
            for seed, name, spec in tasks:

                def on_round(
                    round_: int, seed: int = seed, name: str = name, done: int = done
                ) -> None:
                    if cancel is not None and cancel.is_set():
                        raise SimulationCancelledError(done + round_)
                    if progress is not None:
                        progress(Progress(seed, name, round_, n_rounds, done + round_, total))

                curves[seed, name] = learning_curve(
                    *arrays,
                    strategy=spec,
                    initial=draws[seed][0],
                    random_order=draws[seed][1],
                    seed_root=(root_seed, 2, seed),
                    on_round=on_round,
                    **common,
                )
                done += n_rounds
    else:
        from joblib import Parallel, delayed

        runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        results = runner(
            delayed(_task)(arrays, seed, name, spec, draws[seed], (root_seed, 2, seed), common)
            for seed, name, spec in tasks
        )
        try:
            for seed, name, curve in results:
                if cancel is not None and cancel.is_set():
                    raise SimulationCancelledError(done)
                curves[seed, name] = curve
                done += n_rounds
                if progress is not None:
                    progress(Progress(seed, name, n_rounds - 1, n_rounds, done, total))
        finally:
            close = getattr(results, "close", None)
            if callable(close):
                close()
    if progress is not None and n_jobs == 1:
        last_seed, last_name, _ = tasks[-1]
        progress(Progress(last_seed, last_name, n_rounds - 1, n_rounds, total, total))
    rows = [
        (name, seed, r, n, a, f, curve.methods[r - 1] if r else "initial")
        for (seed, name), curve in curves.items()
        for r, (n, a, f) in enumerate(
            zip(curve.labels, curve.accuracy, curve.macro_f1, strict=True)
        )
    ]
    frame = pd.DataFrame(
        rows, columns=["strategy", "seed", "round", "labels", "accuracy", "macro_f1", "method"]
    )
    order = {name: i for i, (name, _) in enumerate(named)}
    frame = (
        frame.assign(_o=frame["strategy"].map(order))
        .sort_values(["_o", "seed", "round"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    timing = {
        "fit": sum(c.fit_seconds for c in curves.values()),
        "predict": sum(c.predict_seconds for c in curves.values()),
        "select": sum(c.select_seconds for c in curves.values()),
        "score": sum(c.score_seconds for c in curves.values()),
        "wall": time.perf_counter() - started,
        "rounds": float(total),
    }
    return SimulationResult(
        settings=settings,
        curves=frame,
        full_accuracy=full_accuracy,
        classes=tuple(str(c) for c in classes),
        n_pool=len(pool),
        n_test=len(test),
        source=data.source,
        name=data.name,
        timing=timing,
    )


def _task(
    arrays: tuple[Any, Any, Any, Any],
    seed: int,
    name: str,
    spec: StrategyLike,
    draw: tuple[NDArray[np.intp], NDArray[np.intp]],
    seed_root: tuple[int, ...],
    common: dict[str, Any],
) -> tuple[int, str, Curve]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one process per core: BLAS threads would only contend
        curve = learning_curve(
            *arrays,
            strategy=spec,
            initial=draw[0],
            random_order=draw[1],
            seed_root=seed_root,
            **common,
        )
    return seed, name, curve


def _named_strategies(strategies: Sequence[StrategyLike]) -> list[tuple[str, StrategyLike]]:
    if isinstance(strategies, str):
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    named: list[tuple[str, StrategyLike]] = []
    for spec in strategies:
        if isinstance(spec, tuple):
            name, picker = spec
            if not callable(picker):
                raise SimulationError(f"custom strategy {name!r} is not callable")
        else:
            parse_strategy(spec)
            name = spec
        if name in (n for n, _ in named):
            raise SimulationError(f"strategy {name!r} is listed twice")
        named.append((name, spec))
    if RANDOM not in (n for n, _ in named):
        named.insert(0, (RANDOM, RANDOM))
    return named


# -- statistics -----------------------------------------------------------------------------------


def labels_to_reach(labels: Sequence[int], accuracy: Sequence[float], bar: float) -> float:
    """The first number of labels whose accuracy is >= ``bar``; inf if never."""
    for n, a in zip(labels, accuracy, strict=True):
        if a >= bar:
            return float(n)
    return math.inf


def paired_bootstrap(
    values: ArrayLike, *, confidence: float = 0.95, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of paired per-seed differences and its percentile bootstrap interval.

    Seeds are resampled with replacement ``samples`` times; the interval holds the central
    ``confidence`` share of the resampled means.

    >>> paired_bootstrap([0.0, 0.0, 0.0])
    (0.0, 0.0, 0.0)
    >>> mean, low, high = paired_bootstrap([0.4, 0.5, 0.6, 0.5])
    >>> round(mean, 2), low > 0
    (0.5, True)
    """
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(samples, len(x)))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(x.mean()), float(low), float(high)


@dataclass(frozen=True)
class SimulationResult:
    """A finished simulation: the per-seed curves and what follows from them.

    ``curves`` has one row per strategy, seed and round: ``strategy, seed, round, labels,
    accuracy, macro_f1, method`` (the method that picked the batch that led to this point,
    ``initial`` for the first). ``timing`` sums CPU seconds over all curves (``fit``,
    ``predict``, ``select``, ``score``) and has the ``wall`` time and the number of ``rounds``.
    """

    settings: SimulationSettings
    curves: pd.DataFrame
    full_accuracy: float
    classes: tuple[str, ...]
    n_pool: int
    n_test: int
    source: str
    name: str
    timing: dict[str, float]

    @property
    def target_accuracy(self) -> float:
        """The accuracy a curve has to reach: ``target`` x full-pool accuracy."""
        return self.settings.target * self.full_accuracy

    @property
    def strategies(self) -> tuple[str, ...]:
        return self.settings.strategies

    def bands(self) -> pd.DataFrame:
        """Per strategy and number of labels: median and band of accuracy and macro-F1."""
        low, high = self.settings.band
        grouped = self.curves.groupby(["strategy", "labels"], sort=False)
        out = grouped.agg(
            n_seeds=("seed", "nunique"),
            accuracy_median=("accuracy", "median"),
            accuracy_low=("accuracy", lambda s: s.quantile(low)),
            accuracy_high=("accuracy", lambda s: s.quantile(high)),
            macro_f1_median=("macro_f1", "median"),
            macro_f1_low=("macro_f1", lambda s: s.quantile(low)),
            macro_f1_high=("macro_f1", lambda s: s.quantile(high)),
        ).reset_index()
        return out

    def per_seed(self) -> pd.DataFrame:
        """Per strategy and seed: labels to reach the target (inf: never), final scores."""
        bar = self.target_accuracy
        rows = []
        for (name, seed), one in self.curves.groupby(["strategy", "seed"], sort=False):
            rows.append(
                {
                    "strategy": name,
                    "seed": seed,
                    "labels_to_target": labels_to_reach(
                        one["labels"].tolist(), one["accuracy"].tolist(), bar
                    ),
                    "final_accuracy": float(one["accuracy"].iloc[-1]),
                    "final_macro_f1": float(one["macro_f1"].iloc[-1]),
                }
            )
        return pd.DataFrame(rows)

    def savings(self) -> dict[str, dict[str, float]]:
        """Per strategy: mean paired savings vs random and its bootstrap interval.

        Per seed, ``1 - labels(strategy) / labels(random)`` to reach the target, a curve that
        never reaches it counting as the budget (``censored`` seeds). Also the paired gain in
        final accuracy (points of accuracy x 100) with its interval.
        """
        seeds = self.per_seed()
        budget = float(self.settings.budget)
        capped = seeds["labels_to_target"].clip(upper=budget)
        seeds = seeds.assign(capped=capped, censored=np.isinf(seeds["labels_to_target"]))
        base = seeds[seeds["strategy"] == RANDOM].set_index("seed")
        out: dict[str, dict[str, float]] = {}
        for i, name in enumerate(self.strategies):
            if name == RANDOM:
                continue
            one = seeds[seeds["strategy"] == name].set_index("seed").loc[base.index]
            saved = 1.0 - one["capped"].to_numpy() / base["capped"].to_numpy()
            gain = (one["final_accuracy"].to_numpy() - base["final_accuracy"].to_numpy()) * 100
            mean, low, high = paired_bootstrap(
                saved, confidence=self.settings.confidence, seed=self.settings.root_seed + i
            )
            g_mean, g_low, g_high = paired_bootstrap(
                gain, confidence=self.settings.confidence, seed=self.settings.root_seed + i
            )
            out[name] = {
                "savings": mean,
                "savings_low": low,
                "savings_high": high,
                "censored": float((one["censored"].to_numpy() | base["censored"].to_numpy()).sum()),
                "gain": g_mean,
                "gain_low": g_low,
                "gain_high": g_high,
            }
        return out

    def summary(self) -> pd.DataFrame:
        """The table: one row per strategy.

        Columns: ``strategy``, ``labels_median`` (labels to reach the target; inf if the median
        seed never did), ``labels_low`` / ``labels_high`` (the band's quantiles), ``reached``
        (seeds that reached it), ``accuracy_at_budget`` and ``macro_f1_at_budget`` (medians),
        ``savings``, ``savings_low``, ``savings_high`` (vs random; NaN for random), ``verdict``.
        """
        low, high = self.settings.band
        seeds = self.per_seed()
        saved = self.savings()
        rows = []
        for name in self.strategies:
            one = seeds[seeds["strategy"] == name]
            needed = one["labels_to_target"].to_numpy()
            s = saved.get(name)
            rows.append(
                {
                    "strategy": name,
                    "labels_median": float(np.median(needed)),
                    "labels_low": float(np.quantile(needed, low, method="inverted_cdf")),
                    "labels_high": float(np.quantile(needed, high, method="inverted_cdf")),
                    "reached": int(np.isfinite(needed).sum()),
                    "seeds": len(needed),
                    "accuracy_at_budget": float(one["final_accuracy"].median()),
                    "macro_f1_at_budget": float(one["final_macro_f1"].median()),
                    "savings": s["savings"] if s else math.nan,
                    "savings_low": s["savings_low"] if s else math.nan,
                    "savings_high": s["savings_high"] if s else math.nan,
                    "verdict": "baseline" if s is None else _strategy_verdict(s, self.settings),
                }
            )
        return pd.DataFrame(rows)

    def winner(self) -> str | None:
        """The strategy with the largest savings whose whole interval is above 0, or None."""
        reliable = {
            name: s["savings"] for name, s in self.savings().items() if s["savings_low"] > 0
        }
        return max(reliable, key=lambda n: reliable[n]) if reliable else None

    def verdict(self) -> str:
        """The outcome in plain words, with the numbers."""
        table: dict[str, dict[str, Any]] = {
            str(r["strategy"]): {str(k): v for k, v in r.items()}
            for r in self.summary().to_dict("records")
        }
        settings = self.settings
        bar = f"{settings.target:.0%} of full-pool accuracy"
        reference = (
            f"target accuracy {self.target_accuracy:.1%}; the whole pool gives "
            f"{self.full_accuracy:.1%}"
        )
        over = f"{settings.seeds} seed(s), batches of {settings.batch}, budget {settings.budget:,}"
        short = [(name, row) for name, row in table.items() if row["reached"] < row["seeds"]]
        tail = ""
        if short:
            tail = (
                f" Not reached within {settings.budget:,} labels in some seeds: "
                + ", ".join(
                    f"{name} {row['seeds'] - row['reached']} of {row['seeds']} (median accuracy "
                    f"at the budget {row['accuracy_at_budget']:.1%})"
                    for name, row in short
                )
                + "; those seeds count as the budget, so the savings are bounds."
            )
            ahead = [
                f"{name} {s['gain']:+.1f} points ({settings.confidence:.0%} interval "
                f"{s['gain_low']:+.1f} to {s['gain_high']:+.1f})"
                for name, s in self.savings().items()
                if s["gain_low"] > 0 or s["gain_high"] < 0
            ]
            if ahead:
                tail += " Accuracy at the budget versus random: " + ", ".join(ahead) + "."
        if settings.seeds < 2:
            return (
                f"One seed only: no interval, so no verdict. Run at least 5 seeds ({over}).{tail}"
            )
        best = self.winner()
        random_labels = _fmt_labels(table[RANDOM]["labels_median"], settings.budget)
        if best is None:
            losers = [n for n, s in self.savings().items() if s["savings_high"] < 0]
            lose = f" Worse than random: {', '.join(losers)}." if losers else ""
            return (
                f"No reliable difference from random at this budget: no strategy's "
                f"{settings.confidence:.0%} interval of savings lies above 0 (random needs "
                f"{random_labels} labels, median, to reach {bar}; {reference}; {over})."
                f"{lose}{tail}"
            )
        row = table[best]
        return (
            f"{best} saves {row['savings']:.0%} of the labels random needs to reach {bar} "
            f"({settings.confidence:.0%} interval {row['savings_low']:.0%} to "
            f"{row['savings_high']:.0%}): {_fmt_labels(row['labels_median'], settings.budget)} "
            f"labels (median) against random's {random_labels} ({reference}; {over}).{tail}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (:meth:`from_dict` reads it back)."""
        return {
            "settings": self.settings.params(),
            "curves": self.curves.to_dict(orient="list"),
            "full_accuracy": self.full_accuracy,
            "classes": list(self.classes),
            "n_pool": self.n_pool,
            "n_test": self.n_test,
            "source": self.source,
            "name": self.name,
            "timing": self.timing,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> SimulationResult:
        s = dict(value["settings"])
        s["strategies"] = tuple(s["strategies"])
        s["band"] = tuple(s["band"])
        return cls(
            settings=SimulationSettings(**s),
            curves=pd.DataFrame(value["curves"]),
            full_accuracy=float(value["full_accuracy"]),
            classes=tuple(value["classes"]),
            n_pool=int(value["n_pool"]),
            n_test=int(value["n_test"]),
            source=str(value["source"]),
            name=str(value["name"]),
            timing={k: float(v) for k, v in value["timing"].items()},
        )


def _fmt_labels(value: float, budget: int) -> str:
    return f">{budget:,}" if math.isinf(value) else f"{value:,.0f}"


def _strategy_verdict(s: Mapping[str, float], settings: SimulationSettings) -> str:
    if settings.seeds < 2:
        return "one seed: no interval"
    level = f"{settings.confidence:.0%}"
    interval = f"{level} interval {s['savings_low']:+.0%} to {s['savings_high']:+.0%}"
    if s["savings_low"] > 0:
        return f"saves {s['savings']:.0%} of labels ({interval})"
    if s["savings_high"] < 0:
        return f"needs {-s['savings']:.0%} more labels ({interval})"
    return f"no reliable difference from random at this budget ({interval})"


def summary_text(result: SimulationResult) -> str:
    """The summary as a Markdown table (what the CLI prints and the docs show)."""
    s = result.settings
    low, high = s.band
    budget = s.budget
    head = (
        f"{result.name}: {result.n_pool:,} pool rows, {result.n_test:,} test rows, "
        f"{len(result.classes)} classes, features: {result.source}; full-pool accuracy "
        f"{result.full_accuracy:.1%}, target {s.target:.0%} of it = {result.target_accuracy:.1%}; "
        f"{s.seeds} seed(s), initial {s.initial}, batches of {s.batch}, budget {budget:,}\n\n"
    )
    lines = [
        f"| strategy | labels to target (median) | {low:.0%} to {high:.0%} | reached | "
        f"accuracy at budget | macro-F1 at budget | savings vs random | "
        f"{s.confidence:.0%} interval | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in result.summary().to_dict("records"):
        has = not math.isnan(row["savings"])
        lines.append(
            f"| {row['strategy']} | {_fmt_labels(row['labels_median'], budget)} | "
            f"{_fmt_labels(row['labels_low'], budget)} to "
            f"{_fmt_labels(row['labels_high'], budget)}"
            f" | {row['reached']}/{row['seeds']} | {row['accuracy_at_budget']:.1%} | "
            f"{row['macro_f1_at_budget']:.1%} | "
            + (f"{row['savings']:+.0%}" if has else "(baseline)")
            + " | "
            + (f"{row['savings_low']:+.0%} to {row['savings_high']:+.0%}" if has else "")
            + f" | {row['verdict']} |"
        )
    return head + "\n".join(lines)
