"""For each public function of the core library, hypothesis draws bad values for each declared
constraint of each parameter, and the function must refuse them with a pcsm ValueError or TypeError
whose message starts with the parameter's name, raised by pcsm's own code (not a torch, numpy or pandas
traceback), and before any training starts."""

from __future__ import annotations

import inspect
import math
import traceback
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import pcsm.core as core  # noqa: E402
import pcsm.core.baselines as baselines_module  # noqa: E402
import pcsm.core.mi as mi_module  # noqa: E402
from pcsm.core import baselines, estimators, gaussian, losses, metrics, training  # noqa: E402
from pcsm.core.gaussian import GaussianMixture, paper_mixture  # noqa: E402
from pcsm.core.mi import estimate_mi  # noqa: E402
from pcsm.core.models import mlp  # noqa: E402

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PCSM_ROOT = Path(core.__file__).resolve().parent.parent

LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
LABELS = np.array([0, 2])
PRIOR = np.array([0.2, 0.3, 0.5])
RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 1))
Y = np.arange(60) % 2
MIXTURE = paper_mixture(1, balanced=True)

# --- bad values, one strategy per kind of constraint ---------------------------------------------------
text = st.text(max_size=4)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
not_numbers = st.one_of(text, st.none(), st.complex_numbers(), st.lists(st.integers(), max_size=2))


def bad_int(minimum: int = 1, maximum: int | None = None, none_ok: bool = False) -> st.SearchStrategy:
    """Integers out of range, and what is not an integer (floats, text, bools, complex)."""
    options = [st.integers(max_value=minimum - 1), st.floats(), text, st.booleans(), st.complex_numbers()]
    if maximum is not None:
        options.append(st.integers(min_value=maximum + 1))
    if not none_ok:
        options.append(st.none())
    return st.one_of(*options)


bad_seed = bad_int(0, 2**63 - 1)
bad_bool = st.one_of(text, st.integers(), st.none(), st.floats())
bad_float = st.one_of(text, non_finite, st.booleans(), st.none(), st.complex_numbers())
bad_positive_float = st.one_of(bad_float, st.floats(max_value=0.0, allow_nan=False))
bad_fraction = st.one_of(st.floats().filter(lambda v: not 0 < v < 1), text, st.none(), st.booleans())
bad_hidden = st.one_of(st.integers(max_value=0), text, st.floats(), st.none(),
                       st.lists(st.integers(max_value=0), min_size=1, max_size=3))
bad_device = st.one_of(
    text.filter(lambda s: s != "auto" and not s.startswith(("cpu", "cuda"))),
    st.integers(), st.floats(), st.sampled_from(["tpu", "gpu", "meta", "cuda:x"]),
)


def bad_choice(*choices: str) -> st.SearchStrategy:
    return st.one_of(text.filter(lambda s: s not in choices), st.integers(), st.none())


def _with_entry(base: np.ndarray, values: st.SearchStrategy) -> st.SearchStrategy:
    """``base`` with one entry replaced by a drawn value."""
    return st.tuples(st.integers(0, base.size - 1), values).map(
        lambda pair: np.where(np.arange(base.size).reshape(base.shape) == pair[0], pair[1], base))


def bad_reals(base: np.ndarray, wrong_shapes: list[tuple[int, ...]]) -> st.SearchStrategy:
    """Arrays like ``base`` with a NaN or infinite entry, complex, as text, or of a wrong shape."""
    return st.one_of(
        _with_entry(base.astype(float), non_finite),
        st.floats(1e-3, 1e3).map(lambda im: base + 1j * im),
        st.just(base.astype(str)),
        st.sampled_from(wrong_shapes).map(lambda shape: np.ones(shape)),
    )


def bad_labels(n: int, n_classes: int) -> st.SearchStrategy:
    """Label vectors of n entries out of [0, n_classes) or not integers, or of the wrong length or ndim."""
    base = np.arange(n) % n_classes
    return st.one_of(
        _with_entry(base, st.one_of(st.integers(-(2**40), -1), st.integers(n_classes, 2**40))),
        _with_entry(base.astype(float), st.one_of(non_finite, st.floats(0.1, 0.9))),
        st.just(base.astype(str)),
        st.integers(0, 3).filter(lambda k: k != n).map(lambda k: np.zeros(k, dtype=np.int64)),
        st.just(base[:, None]),
    )


def refused_labels(n_classes: int | None) -> Callable[[np.ndarray], bool]:
    """Whether labels are bad whatever their number: not a 1-D vector of integers in [0, n_classes)."""
    top = n_classes if n_classes is not None else 2**62

    def refused(y: np.ndarray) -> bool:
        valid = y.ndim == 1 and y.dtype.kind == "i" and (y.size == 0 or (y.min() >= 0 and y.max() < top))
        return not valid

    return refused


def bad_prior(n_classes: int, absent_ok: bool = True, sized: bool = True) -> st.SearchStrategy:
    """Not a probability vector: negative, off-sum, text, complex, NaN, 2-D, a Series indexed by text;
    when ``sized`` (the number of classes is known) also of a wrong length, or a Series whose labels
    are not the classes."""
    good = np.full(n_classes, 1.0 / n_classes)
    options = [
        _with_entry(good, st.floats(max_value=-1e-3)),
        st.floats(0.1, 0.9).map(lambda scale: good * scale),
        st.just(good.astype(str)),
        st.just(good + 0.1j),
        _with_entry(good, non_finite),
        st.just(good[None, :]),
        st.just(pd.Series(good, index=[str(k) for k in range(n_classes)])),
    ]
    if sized:
        options += [st.integers(1, 6).filter(lambda k: k != n_classes).map(lambda k: np.full(k, 1.0 / k)),
                    st.just(pd.Series(good, index=np.arange(n_classes) + 1))]
    if not absent_ok:  # labels 0 and the last class occur: a zero prior for one of them is refused
        options.append(st.just(np.r_[1.0, np.zeros(n_classes - 1)]))
    return st.one_of(*options)


# --- the table: (function, how to call it with one bad argument, parameter, bad values) ----------------
def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return mlp(2, 3, (4,))


TX, TY = torch.randn(12, 2, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 3


def _train(**kwargs: Any) -> Any:
    arguments = {"x": TX, "y": TY, "epochs": 1, "loss": "pc-softmax", "prior": [0.3, 0.3, 0.4],
                 "validation": (TX[:6], TY[:6]), "patience": 1, **kwargs}
    return training.train_classifier(_model(), **arguments)


def _estimate(**kwargs: Any) -> Any:
    return estimate_mi(**{"x": X, "y": Y, "epochs": 1, "repeats": 1, "hidden": (4,), **kwargs})


def _mine(**kwargs: Any) -> Any:
    return baselines.mine_mi(**{"x": X, "y": Y, "epochs": 1, "hidden": (4,), **kwargs})


def caller(function: Callable, **valid: Any) -> Callable[..., Any]:
    return lambda **bad: function(**{**valid, **bad})


# estimators of I(X;Y) take labels of any integer values: only non-integers, the wrong length or ndim fail
any_labels_refused = bad_labels(60, 2).filter(lambda y: y.dtype.kind != "i" or len(y) != 60 or y.ndim != 1)

CALLS: dict[str, tuple[Callable, Callable[..., Any], dict[str, st.SearchStrategy]]] = {
    "pc_log_softmax": (losses.pc_log_softmax, caller(losses.pc_log_softmax, logits=LOGITS, prior=PRIOR), {
        "logits": bad_reals(LOGITS, [(3,), (2, 1), (2, 3, 1)]), "prior": bad_prior(3)}),
    "pc_softmax_cross_entropy": (
        losses.pc_softmax_cross_entropy,
        caller(losses.pc_softmax_cross_entropy, logits=LOGITS, labels=LABELS, prior=PRIOR), {
            "logits": bad_reals(LOGITS, [(3,), (2, 1), (2, 3, 1)]), "labels": bad_labels(2, 3),
            "prior": bad_prior(3, absent_ok=False), "reduction": bad_choice("mean", "sum", "none")}),
    "logit_adjusted_cross_entropy": (
        losses.logit_adjusted_cross_entropy,
        caller(losses.logit_adjusted_cross_entropy, logits=LOGITS, labels=LABELS, prior=PRIOR), {
            "logits": bad_reals(LOGITS, [(3,), (2, 1)]), "labels": bad_labels(2, 3),
            "prior": bad_prior(3, absent_ok=False), "tau": bad_float,
            "reduction": bad_choice("mean", "sum", "none")}),
    "make_loss": (losses.make_loss, caller(losses.make_loss, loss="pc-softmax", prior=PRIOR), {
        "loss": bad_choice("softmax", "pc-softmax"), "prior": bad_prior(3, sized=False)}),
    "posthoc_corrected_logits": (
        losses.posthoc_corrected_logits,
        caller(losses.posthoc_corrected_logits, logits=LOGITS, prior=PRIOR), {
            "logits": bad_reals(LOGITS, [(3,), (2, 1)]), "prior": bad_prior(3)}),
    "label_frequencies": (estimators.label_frequencies,
                          caller(estimators.label_frequencies, labels=LABELS, n_classes=3), {
                              "labels": bad_labels(2, 3).filter(refused_labels(3)), "n_classes": bad_int(1)}),
    "mi_from_logits": (estimators.mi_from_logits,
                       caller(estimators.mi_from_logits, logits=LOGITS, labels=LABELS, prior=PRIOR), {
                           "logits": bad_reals(LOGITS, [(3,), (2, 1)]), "labels": bad_labels(2, 3),
                           "prior": bad_prior(3, absent_ok=False),
                           "method": bad_choice("pc-softmax", "softmax")}),
    "per_class_accuracy": (metrics.per_class_accuracy,
                           caller(metrics.per_class_accuracy, y_true=LABELS, y_pred=LABELS, n_classes=3), {
                               "y_true": bad_labels(2, 3).filter(refused_labels(3)),
                               "y_pred": bad_labels(2, 3),
                               "n_classes": bad_int(1, none_ok=True)}),
    "average_per_class_accuracy": (
        metrics.average_per_class_accuracy,
        caller(metrics.average_per_class_accuracy, y_true=LABELS, y_pred=LABELS), {
            "y_true": bad_labels(2, 3).filter(refused_labels(None)),
            "y_pred": bad_labels(2, 3).filter(lambda y: refused_labels(None)(y) or len(y) != 2)}),
    "bayes_plugin_mi": (baselines.bayes_plugin_mi,
                        caller(baselines.bayes_plugin_mi, mixture=MIXTURE, x=X[:10], y=Y[:10]), {
                            "mixture": st.one_of(st.none(), st.integers(), st.just(PRIOR)),
                            "x": bad_reals(X[:10], [(10, 2), (10, 1, 1)]), "y": bad_labels(10, 5)}),
    "knn_mi": (baselines.knn_mi, caller(baselines.knn_mi, x=X, y=Y), {
        "x": bad_reals(X, [(60, 0), (60, 1, 1)]), "y": any_labels_refused,
        "n_neighbors": bad_int(1), "standardize": bad_bool}),
    "mine_mi": (baselines.mine_mi, _mine, {
        "x": bad_reals(X, [(60, 0), (60, 1, 1)]), "seed": bad_seed, "n_folds": bad_int(2),
        "hidden": bad_hidden, "epochs": bad_int(1), "batch_size": bad_int(1, none_ok=True),
        "lr": bad_positive_float, "ema": st.one_of(bad_positive_float, st.floats(1.001, 1e9)),
        "patience": bad_int(1), "val_fraction": bad_fraction, "device": bad_device}),
    "GaussianMixture": (GaussianMixture.__init__, caller(GaussianMixture, means=[[0.0], [1.0]]), {
        "means": bad_reals(np.array([[0.0], [1.0]]), [(2,), (1, 1), (2, 0)]),
        "covariances": st.one_of(bad_reals(np.ones((2, 1, 1)), [(2, 1), (2, 2, 2)]),
                                 st.just(-np.ones((2, 1, 1)))),
        "priors": bad_prior(2)}),
    "GaussianMixture.sample": (GaussianMixture.sample, caller(MIXTURE.sample, n=5, seed=0), {
        "n": bad_int(1), "seed": bad_seed}),
    "GaussianMixture.sample_per_class": (
        GaussianMixture.sample_per_class, caller(MIXTURE.sample_per_class, counts=[1] * 5, seed=0), {
            "seed": bad_seed, "counts": st.one_of(st.just([1] * 4), st.just([0] * 5), st.just([-1] * 5),
                                                  st.just([0.5] * 5))}),
    "GaussianMixture.log_likelihoods": (
        GaussianMixture.log_likelihoods, caller(MIXTURE.log_likelihoods, x=X), {
            "x": bad_reals(X, [(60, 2), (60, 1, 1)])}),
    "GaussianMixture.mutual_information": (
        GaussianMixture.mutual_information, caller(MIXTURE.mutual_information, n_samples=10), {
            "n_samples": bad_int(2), "seed": bad_seed,
            "method": bad_choice("auto", "quadrature", "monte-carlo")}),
    "GaussianMixture.bayes_accuracy": (
        GaussianMixture.bayes_accuracy, caller(MIXTURE.bayes_accuracy, n_samples=10), {
            "n_samples": bad_int(2), "seed": bad_seed, "method": bad_choice("auto", "monte-carlo")}),
    "paper_mixture": (paper_mixture, caller(paper_mixture, dim=1, balanced=True), {
        "dim": bad_int(1), "balanced": bad_bool}),
    "stratified_folds": (training.stratified_folds,
                         caller(training.stratified_folds, labels=Y, n_folds=2, seed=0), {
                             "labels": st.one_of(st.just(Y[:, None]), st.just(Y.astype(float)),
                                                 st.just(Y.astype(str))),
                             "n_folds": bad_int(2), "seed": bad_seed}),
    "train_classifier": (training.train_classifier, _train, {
        "x": st.one_of(st.just(TX.numpy()), _with_entry(TX.numpy(), non_finite).map(torch.from_numpy),
                       st.just(torch.ones(12, 3)), st.just(torch.ones(12, 0)), st.just(TX.long())),
        "y": st.one_of(st.just(TY.numpy()), bad_labels(12, 3).filter(lambda y: y.dtype.kind in "if")
                       .map(torch.from_numpy)),
        "prior": st.one_of(bad_prior(3, absent_ok=False), st.just([0.5, 0.5, 0.0])),
        "validation": st.one_of(st.just(TX[:6]), st.just((TX[:6], TY[:5])), st.just((TX[:6].numpy(), TY[:6])),
                                st.just((TX[:6] * math.nan, TY[:6])), st.just((TX[:6], TY[:6] + 3))),
        "epochs": bad_int(1), "batch_size": bad_int(1), "seed": bad_seed,
        "patience": bad_int(1, none_ok=True),
        "loss": bad_choice("softmax", "pc-softmax"), "device": bad_device}),
    "estimate_mi": (estimate_mi, _estimate, {
        "x": bad_reals(X, [(60, 0), (60, 1, 1)]), "y": any_labels_refused,
        "prior": bad_prior(2, absent_ok=False), "seed": bad_seed, "n_folds": bad_int(2),
        "repeats": bad_int(1, 1000), "level": bad_fraction, "val_fraction": bad_fraction,
        "hidden": bad_hidden, "epochs": bad_int(1), "batch_size": bad_int(1, none_ok=True),
        "lr": bad_positive_float, "patience": bad_int(1, none_ok=True), "device": bad_device,
        "method": bad_choice("pc-softmax", "softmax"), "transform": bad_choice("quantile", "standardise"),
        "cross_fit": bad_bool, "calibrate": bad_bool, "progress": bad_bool, "extrapolate": bad_bool,
        "optimism": bad_bool}),
}

CASES = [(label, parameter) for label, (_, _, bad) in CALLS.items() for parameter in bad]


def _fail(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("training started before the bad argument was refused")


def _raised_by_pcsm(error: BaseException) -> bool:
    """Whether the innermost frame that raised ``error`` is pcsm's own code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(PCSM_ROOT)


@pytest.mark.parametrize(("label", "parameter"), CASES, ids=[f"{label}-{p}" for label, p in CASES])
@PROPERTY
@given(data=st.data())
def test_a_bad_value_is_refused_by_pcsm_naming_the_parameter(label: str, parameter: str, data) -> None:
    _, call, bad = CALLS[label]
    value = data.draw(bad[parameter], label=parameter)
    with mock.patch.object(mi_module, "train_classifier", _fail), \
            mock.patch.object(baselines_module, "train_mine", _fail), \
            pytest.raises((ValueError, TypeError)) as error:
        call(**{parameter: value})
    assert str(error.value).startswith(parameter), (type(error.value), str(error.value))
    assert _raised_by_pcsm(error.value), "".join(traceback.format_exception(error.value))


def _decorated_public_functions() -> dict[str, Any]:
    """Every public function and method of pcsm.core that declares constraints, by qualified name."""
    found = {}
    for module in (losses, estimators, metrics, baselines, gaussian, training, mi_module):
        for name, member in vars(module).items():
            if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                continue
            members = [member] + [m for n, m in vars(member).items() if inspect.isclass(member)
                                  and (not n.startswith("_") or n == "__init__") and callable(m)]
            found.update({m.__qualname__: m for m in members if hasattr(m, "constraints")})
    return found


def test_every_declared_constraint_has_bad_values_drawn_above() -> None:
    covered = {function.__qualname__: set(bad) for function, _, bad in CALLS.values()}
    for qualname, function in _decorated_public_functions().items():
        assert qualname in covered, f"{qualname} declares constraints but has no row in CALLS"
        missing = set(function.constraints) - covered[qualname]
        assert not missing, f"{qualname}: no bad values drawn for {sorted(missing)}"
