"""The derivation chapter's computations (01-bound): the checks of Steps 1-4 (the Bayes classifier
attains I(X;Y); a critic's gap is its expected KL; log PC-softmax = log softmax + log M under a uniform
prior; the balanced formula's bias log M - H(Y) under imbalance), the prior-mismatch identity, imperfect
classifiers, PC-softmax beside Donsker-Varadhan, the Bayes rule for average per-class accuracy, and the
page's tables as people read them. Everything works on exact log-likelihoods of a Gaussian mixture.

The identity: for logits f, a prior pi in the normaliser and q_pi(y|x) = pi(y) e^{f_y} / sum pi e^{f},

    E[log e^{f_y} / sum_y' pi(y') e^{f_y'}] = I(X;Y) - E_x KL(p(.|x) || q_pi(.|x)) + KL(P || pi).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from pcsm.core._checks import check_positive_int, check_prior
from pcsm.core.baselines import dv_terms
from pcsm.core.estimators import mi_from_logits
from pcsm.core.gaussian import GaussianMixture, paper_mixture
from pcsm.core.metrics import average_per_class_accuracy
from pcsm.core.losses import logit_adjusted_cross_entropy, pc_log_softmax, pc_softmax_cross_entropy
from pcsm.experiments import gaussian_mi as gx
from pcsm.experiments import paper
from pcsm.experiments.config import Chapter, ChapterConfig, Metric
from pcsm.experiments.formatting import number_text
from pcsm.experiments.gaussian_mi import bayes_plugin_se

#: Columns of the tables of Checks 3 and 4 (:func:`formulas_table`) as readers see them.
FORMULA_COLUMNS = {"d": ("d", None), "ground_truth": ("I(X;Y), quadrature (nats)", 4),
                   "log_m_minus_h": ("log M − H(Y) (nats)", 4),
                   "balanced_error": ("balanced formula − I (nats)", 4),
                   "balanced_z": ("balanced: z", 2),
                   "pc_softmax_error": ("PC-softmax − I (nats)", 4),
                   "pc_softmax_z": ("PC-softmax: z", 2)}
#: Columns of the PC-softmax against Donsker-Varadhan table (:func:`critics_table`).
CRITIC_COLUMNS = {"d": ("d", None), "ground_truth": ("I(X;Y) (nats)", 4),
                  "pc_softmax": ("PC-softmax bound (nats)", 4),
                  "donsker_varadhan": ("Donsker–Varadhan bound (nats)", 4)}


@dataclass(frozen=True)
class BoundConfig(ChapterConfig):
    """The parameters of chapter 01, each checked when the record is built: a ``ValueError`` names the
    bad one before any sampling."""

    PROFILES = {
        "smoke": {"n_samples": 20_000},
        "paper": {"n_samples": 4_000_000},
    }

    n_samples: int = 1_000_000  # Monte Carlo samples per check
    seed: int = 0  # numpy seed of every sampled check

    def __post_init__(self) -> None:
        check_positive_int(self.n_samples, "n_samples", minimum=1000)
        check_positive_int(self.seed, "seed", minimum=0)


CHAPTER = Chapter(
    config=BoundConfig,
    results=("bound-checks",),
    timeout=600,
    # validation: the published run itself (closed forms and Monte Carlo with a fixed seed)
    metrics=(
        Metric(table="bound-checks", keys=("check", "d", "quantity"), value="value", k=0.0, floor=1e-4,
               reason="closed forms and Monte Carlo with a fixed numpy seed: other CPU kernels change the "
                      "last digits only",
               detects="any change of a checked value above 1e-4"),
    ),
)


def ground_truths(setting: str, dims: Any, n_samples: int) -> dict[int, float]:
    """I(X;Y) of the paper's ``setting`` mixture ("balanced" or "imbalanced", Table 1's prior) for each
    d in ``dims``: :meth:`GaussianMixture.mutual_information`, by quadrature on these mixtures (their
    means lie on a line), by Monte Carlo over ``n_samples`` draws otherwise."""
    return {d: gx.mixture(setting, d).mutual_information(n_samples, seed=gx.TRUTH_SEED)[0] for d in dims}


def _log_pi(pi: Any, n_classes: int) -> np.ndarray:
    return np.log(check_prior(pi, n_classes, "pi"))


def normalised_scores(logits: np.ndarray, pi: Any) -> np.ndarray:
    """log e^{f_y} / sum_y' pi(y') e^{f_y'} for every class, shape (n, M), in float64: the core's
    :func:`pcsm.core.losses.pc_log_softmax` (the one home of this normaliser) on numpy logits."""
    f = np.asarray(logits, dtype=np.float64)
    return pc_log_softmax(torch.from_numpy(f), check_prior(pi, f.shape[1], "pi")).numpy()


def prior_mismatch(g: GaussianMixture, x: np.ndarray, y: np.ndarray, logits: np.ndarray, pi: Any,
                   mi: float) -> dict[str, float]:
    """Both sides of the prior-mismatch identity on a sample, each with its standard error.

    ``lhs``: the sample mean of log e^{f_y} / sum pi e^{f}. ``rhs``: ``mi`` - E_x KL(p || q_pi) +
    KL(P || pi), the expected KL computed with the exact posteriors (Rao-Blackwellised over y), so the
    two sides share no term and their agreement is a statistical check, not an algebraic one.
    """
    log_pi = _log_pi(pi, g.n_classes)
    lhs_terms = normalised_scores(logits, pi)[np.arange(len(y)), y]
    log_post = g.log_posteriors(x)
    log_q = normalised_scores(logits, pi) + log_pi
    kl = (np.exp(log_post) * (log_post - log_q)).sum(axis=1)
    prior_kl = float(np.sum(g.priors * (np.log(g.priors) - log_pi)))
    n = len(y)
    return {"lhs": float(lhs_terms.mean()), "lhs_se": float(lhs_terms.std(ddof=1) / np.sqrt(n)),
            "expected_kl": float(kl.mean()), "prior_kl": prior_kl,
            "rhs": mi - float(kl.mean()) + prior_kl, "rhs_se": float(kl.std(ddof=1) / np.sqrt(n))}


def _noise(n: int, n_classes: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, n_classes))


def noisy_logits(g: GaussianMixture, x: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """An imperfect softmax classifier's logits: log p(y|x) + sigma * N(0, 1) noise per class."""
    if not sigma >= 0:
        raise ValueError(f"sigma: must be >= 0, got {sigma}")
    return g.log_posteriors(x) + sigma * _noise(len(x), g.n_classes, seed)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Fraction of argmax_y logits equal to the label."""
    return float((np.asarray(logits).argmax(axis=1) == y).mean())


def sigma_for_accuracy(g: GaussianMixture, x: np.ndarray, y: np.ndarray, target: float, seed: int,
                       steps: int = 40) -> float:
    """Noise level at which :func:`noisy_logits` (same ``seed``) reaches accuracy ``target``
    (bisection on [0, 50]; accuracy falls as the noise grows)."""
    if not 0 < target < 1:
        raise ValueError(f"target: must lie in (0, 1), got {target}")
    log_post, noise = g.log_posteriors(x), _noise(len(x), g.n_classes, seed)
    lo, hi = 0.0, 50.0
    if accuracy(log_post, y) <= target:
        return lo
    for _ in range(check_positive_int(steps, "steps")):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if accuracy(log_post + mid * noise, y) > target else (lo, mid)
    return (lo + hi) / 2


def balanced_formula(logits: np.ndarray, y: np.ndarray) -> float:
    """The balanced formula: mean log softmax_y(f) + log M (the prior-mismatch score with pi uniform),
    as :func:`pcsm.core.estimators.mi_from_logits` computes it (``method="softmax"``)."""
    return mi_from_logits(np.asarray(logits, dtype=np.float64), y, method="softmax")


def donsker_varadhan(logits: np.ndarray, y: np.ndarray, prior: Any) -> float:
    """DV bound of the critic T(x, y) = f_y(x): E f_y - log E_x sum_y' P(y') e^{f_y'(x)}, from the two
    halves MINE uses (:func:`pcsm.core.baselines.dv_terms`, the one home of this bound)."""
    f = torch.from_numpy(np.asarray(logits, dtype=np.float64))
    log_prior = torch.from_numpy(_log_pi(prior, f.shape[1]))
    joint, log_marginal = dv_terms(f, torch.as_tensor(y, dtype=torch.long), log_prior)
    return float(joint - log_marginal)


def pc_softmax_bound(logits: np.ndarray, y: np.ndarray, prior: Any) -> float:
    """PC-softmax bound of the same critic: E [f_y - log sum_y' P(y') e^{f_y'}] (>= DV by Jensen), as
    :func:`pcsm.core.estimators.mi_from_logits` computes it."""
    return mi_from_logits(np.asarray(logits, dtype=np.float64), y, prior=prior)


def per_class_accuracy_vs_tau(g: GaussianMixture, x: np.ndarray, y: np.ndarray,
                              taus: np.ndarray) -> np.ndarray:
    """Average per-class accuracy of argmax_y log p(x|y) + tau log P(y) for each tau: tau = 1 is the
    usual Bayes (posterior) rule, tau = 0 the likelihood rule argmax p(x|y)."""
    log_lik, log_prior = g.log_likelihoods(x), np.log(g.priors)
    return np.array([average_per_class_accuracy(y, (log_lik + t * log_prior).argmax(axis=1))
                     for t in np.asarray(taus, dtype=np.float64)])


def zipf_prior(n_classes: int, exponent: float) -> np.ndarray:
    """The Zipf prior P(y) proportional to y^-exponent over the labels y = 1..M (uniform at exponent 0);
    entry k of the array, k = 0..M-1, is label y = k + 1, i.e. (k + 1)^-exponent."""
    check_positive_int(n_classes, "n_classes", minimum=2)
    if not np.isfinite(exponent) or exponent < 0:
        raise ValueError(f"exponent: must be a finite number >= 0, got {exponent}")
    weights = np.arange(1, n_classes + 1, dtype=np.float64) ** -float(exponent)
    return weights / weights.sum()


def zipf_sweep(exponents: Any, dim: int, n_samples: int, seed: int, sigma: float = 1.0) -> list[dict]:
    """The balanced formula's error against imbalance: for each Zipf exponent s, the paper's five means
    in R^dim with prior P(y) ~ y^-s over y = 1..M (:func:`zipf_prior`); rows hold log M - H(Y) and the balanced formula's error
    (estimate - I, I by quadrature) for the exact posterior and for a noisy one (:func:`noisy_logits`)."""
    means = paper_mixture(dim, balanced=True).means
    rows = []
    for k, s in enumerate(np.asarray(exponents, dtype=np.float64)):
        g = GaussianMixture(means, priors=zipf_prior(len(means), float(s)))
        mi = g.mutual_information()[0]  # quadrature: the mixture reduces to a line
        x, y = g.sample(check_positive_int(n_samples, "n_samples"), seed=seed + k)
        rows.append({"exponent": float(s), "log_m_minus_h": float(np.log(g.n_classes)) - g.label_entropy(),
                     "mi": mi, "bayes_error": balanced_formula(g.log_posteriors(x), y) - mi,
                     "noisy_error": balanced_formula(noisy_logits(g, x, sigma, seed + k), y) - mi})
    return rows


def bayes_plug_in(g: GaussianMixture, x: np.ndarray, y: np.ndarray, mi: float) -> dict[str, float]:
    """Step 1's tightness: the Bayes classifier's score mean log p(y|x) - log P(y) (PC-softmax of the
    exact log-likelihoods with the true prior), its standard error and z = (score - I) / se."""
    plug_in = mi_from_logits(g.log_likelihoods(x), y, prior=g.priors)
    se = bayes_plugin_se(g, x, y)
    return {"ground_truth": mi, "bayes_plug_in": plug_in, "plug_in_se": se, "z": (plug_in - mi) / se}


def degraded_critics(g: GaussianMixture, x: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Step 2's critics f(x, y): the exact log-likelihoods sharpened (temperature 0.5), flattened
    (temperature 2) or with N(0, 1) noise added per class."""
    log_lik = g.log_likelihoods(x)
    return {"temperature 0.5": 2.0 * log_lik, "temperature 2": 0.5 * log_lik,
            "noise sd 1": log_lik + _noise(len(x), g.n_classes, seed)}


def kl_gap(g: GaussianMixture, x: np.ndarray, y: np.ndarray, logits: np.ndarray,
           mi: float) -> dict[str, float]:
    """Step 2's bound for one critic: E[log PC-softmax_y(f)] (``bound``), its gap to I(X;Y), the expected
    KL E_x KL(p(.|x) || q(.|x)) from the exact posteriors, and z = (gap - KL) / se. The prior-mismatch
    identity with pi = P: I - E[log PC-softmax_y(f)] = E_x KL(p || q)."""
    r = prior_mismatch(g, x, y, logits, g.priors, mi)
    gap = mi - r["lhs"]
    return {"bound": r["lhs"], "gap": gap, "expected_kl": r["expected_kl"],
            "z": (gap - r["expected_kl"]) / float(np.hypot(r["lhs_se"], r["rhs_se"]))}


def softmax_shift_error(logits: Any) -> float:
    """Step 3 on given logits: max |log PC-softmax_y(f) with P uniform - (log softmax_y(f) + log M)|
    over every row and class (zero up to rounding: an algebraic identity)."""
    f = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    m = f.shape[1]
    shifted = torch.log_softmax(f, dim=1) + np.log(m)
    return float((pc_log_softmax(f, np.full(m, 1 / m)) - shifted).abs().max())


def _mean_se(terms: np.ndarray) -> tuple[float, float]:
    return float(terms.mean()), float(terms.std(ddof=1) / np.sqrt(len(terms)))


def formulas_against_truth(g: GaussianMixture, x: np.ndarray, y: np.ndarray,
                           mi: float) -> dict[str, float]:
    """Steps 3 and 4 on one mixture: the balanced formula mean log softmax_y(f) + log M on a softmax
    network's optimum f = log p(y|x), and PC-softmax with the true prior on a PC-softmax network's
    optimum f = log p(x|y); each minus I(X;Y), with standard errors, beside the predicted bias
    log M - H(Y) of the balanced formula (zero for balanced classes)."""
    rows, uniform = np.arange(len(y)), np.full(g.n_classes, 1 / g.n_classes)
    balanced, balanced_se = _mean_se(normalised_scores(g.log_posteriors(x), uniform)[rows, y])
    pc, pc_se = _mean_se(normalised_scores(g.log_likelihoods(x), g.priors)[rows, y])
    predicted = float(np.log(g.n_classes)) - g.label_entropy()
    return {"ground_truth": mi, "log_m_minus_h": predicted,
            "balanced_error": balanced - mi, "balanced_z": (balanced - mi - predicted) / balanced_se,
            "pc_softmax_error": pc - mi, "pc_softmax_z": (pc - mi) / pc_se}


def per_class_accuracy_difference(predicted_a: np.ndarray, predicted_b: np.ndarray, y: np.ndarray,
                                  n_classes: int) -> tuple[float, float]:
    """Average per-class accuracy of ``predicted_a`` minus that of ``predicted_b`` on the same sample, and
    its standard error: (1/M) sqrt(sum_k var_k(c_a - c_b) / n_k), c the 0/1 correctness (paired)."""
    check_positive_int(n_classes, "n_classes", minimum=2)
    diffs = [(predicted_a[y == k] == k).astype(float) - (predicted_b[y == k] == k)
             for k in range(n_classes) if np.any(y == k)]
    difference = float(np.mean([d.mean() for d in diffs]))
    variance = sum(d.var(ddof=1) / len(d) for d in diffs if len(d) > 1)
    return difference, float(np.sqrt(variance) / len(diffs))


def best_tau_against_zero(g: GaussianMixture, x: np.ndarray, y: np.ndarray,
                          taus: Any) -> dict[str, float]:
    """The grid's best tau for argmax_y log p(x|y) + tau log P(y) (:func:`per_class_accuracy_vs_tau`),
    its average per-class accuracy minus that of tau = 0 (the likelihood rule) and the paired standard
    error of that difference (:func:`per_class_accuracy_difference`)."""
    taus = np.asarray(taus, dtype=np.float64)
    best = float(taus[per_class_accuracy_vs_tau(g, x, y, taus).argmax()])
    log_lik, log_prior = g.log_likelihoods(x), np.log(g.priors)
    gain, gain_se = per_class_accuracy_difference((log_lik + best * log_prior).argmax(axis=1),
                                                  log_lik.argmax(axis=1), y, g.n_classes)
    return {"best_tau": best, "gain_over_tau0": gain, "gain_se": gain_se}


def logit_adjustment_errors(n: int, prior: Any, seed: int) -> tuple[float, float]:
    """On n random logits (float64) and labels drawn from ``prior``: the largest departure of
    -log PC-softmax_y(f) - l_LA(f, y; tau = 1) from log P(y), and the largest difference of the two
    losses' gradients (both zero up to rounding: the losses differ by a constant per label)."""
    generator = torch.Generator().manual_seed(check_positive_int(seed, "seed", minimum=0))
    p = torch.as_tensor(check_prior(prior), dtype=torch.float64)
    logits = torch.randn(check_positive_int(n, "n"), len(p), generator=generator, dtype=torch.float64,
                         requires_grad=True)
    labels = torch.multinomial(p, n, replacement=True, generator=generator)
    pc = pc_softmax_cross_entropy(logits, labels, p, reduction="none")
    la = logit_adjusted_cross_entropy(logits, labels, p, tau=1.0, reduction="none")
    constant_error = float((pc - la - p.log()[labels]).abs().max().detach())
    (grad_pc,) = torch.autograd.grad(pc.mean(), logits)
    (grad_la,) = torch.autograd.grad(la.mean(), logits)
    return constant_error, float((grad_pc - grad_la).abs().max())


def _text(value: Any, digits: int | None) -> str:
    """A cell of :func:`readable`: text as it is, a number through :func:`number_text`."""
    return str(value) if digits is None or isinstance(value, str) else number_text(value, digits)


def readable(table: pd.DataFrame, columns: dict[str, tuple[str, int | None]]) -> pd.DataFrame:
    """``table`` for readers: only ``columns`` (name -> (label with unit, decimals; None for as is)), in
    that order, as text rounded to those decimals, with no "-0.00", and a plain 0.. index for hiding."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"columns: not in the table: {missing}")
    return pd.DataFrame({label: [_text(v, digits) for v in table[name]]
                         for name, (label, digits) in columns.items()})


def sign_verdict(dims: Any, ours_errors: Any, paper_errors: Any) -> str:
    """A sentence saying whether the balanced formula's errors (ours, from the identity) have the signs
    of the paper's softmax errors at every d, naming the d where they do not."""
    ours, paper = np.sign(np.asarray(ours_errors)), np.sign(np.asarray(paper_errors))
    differ = [str(d) for d, a, b in zip(dims, ours, paper) if a != b]
    if not differ:
        return ("At every d these errors have the signs of the paper's softmax errors: the paper's softmax "
                "classifiers were imperfect, not the balanced formula unbiased.")
    return (f"Their signs differ from those of the paper's softmax errors at d = {', '.join(differ)}: there "
            "a classifier of the paper's accuracy does not explain the paper's error.")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def identity_sizes(mismatch: pd.DataFrame) -> pd.DataFrame:
    """Per d of :func:`prior_mismatch_table`, the balanced formula's error that the identity predicts
    for a classifier of the paper's softmax accuracy, as an interval (``ours_low``, ``ours_high``): the
    errors at the quoted accuracy -/+ its rounding, widened by two standard errors of the sample mean
    (``lhs_se``); the paper's softmax error as an interval (``paper_low``, ``paper_high``): -/+ twice
    :data:`PAPER_NATS_ROUNDING` (both of its terms are rounded); ``same_sign`` (the identity's error and
    the paper's have one sign) and ``same_size`` (the two intervals overlap)."""
    m = mismatch
    lows = np.minimum.reduce([m.ours_error, m.ours_error_low, m.ours_error_high]) - 2 * m.lhs_se
    highs = np.maximum.reduce([m.ours_error, m.ours_error_low, m.ours_error_high]) + 2 * m.lhs_se
    spread = 2 * PAPER_NATS_ROUNDING
    table = pd.DataFrame({"d": m.d, "ours_error": m.ours_error, "ours_low": lows, "ours_high": highs,
                          "paper_error": m.paper_error, "paper_low": m.paper_error - spread,
                          "paper_high": m.paper_error + spread})
    table["same_sign"] = np.sign(table.ours_error) == np.sign(table.paper_error)
    table["same_size"] = (table.ours_low <= table.paper_high) & (table.paper_low <= table.ours_high)
    return table.reset_index(drop=True)


def identity_verdict(mismatch: pd.DataFrame) -> str:
    """Sentences saying what the prior-mismatch identity, applied to a classifier of the paper's softmax
    accuracy (:func:`prior_mismatch_table`), gets right about the paper's softmax errors: their signs
    (naming any d where they differ) and their sizes, compared as the intervals of :func:`identity_sizes`
    (naming the d where they agree and, with the numbers, those where they do not)."""
    t = identity_sizes(mismatch)
    if t.empty:
        raise ValueError("mismatch: no rows")
    d_text = lambda rows: "d = " + _join([str(d) for d in rows.d])
    wrong_sign = t[~t.same_sign]
    if wrong_sign.empty:
        text = "These errors have the signs of the paper's softmax errors at every d."
    else:
        text = (f"These errors have the signs of the paper's softmax errors except at {d_text(wrong_sign)}.")
    agree, off = t[t.same_size], t[~t.same_size]
    half_width = float(((t.ours_high - t.ours_low) / 2).max())
    uncertainty = (f"(ranges that allow for the paper's accuracies being rounded to whole percent, "
                   f"±{PAPER_ACCURACY_ROUNDING:g} points, and two standard errors, up to "
                   f"±{half_width:.3f} nats wide; the paper's errors carry ±{2 * PAPER_NATS_ROUNDING:.2f} "
                   "nats from its rounding)")
    if off.empty:
        return (f"{text} Their sizes agree with the paper's at every d within the uncertainties "
                f"{uncertainty}.")
    pairs = [f"{number_text(r.ours_error, 3, signed=True)} nats ({number_text(r.ours_low, 3, signed=True)} to "
             f"{number_text(r.ours_high, 3, signed=True)}) against the paper's "
             f"{number_text(r.paper_error, 3, signed=True)}" + (f" at d = {r.d}" if len(off) > 1 else "")
             for r in off.itertuples()]
    where = (f"at {d_text(agree)} within the uncertainties, but not at {d_text(off)}" if not agree.empty
             else f"at no d within the uncertainties")
    text += f" Their sizes agree with the paper's {where}: {_join(pairs)} {uncertainty}."
    if wrong_sign.empty:
        return (text + " So the identity predicts the sign of the paper's softmax errors but does not pin "
                "down their size: that depends on the classifier's KL gap, which its accuracy alone does not fix.")
    return (text + " So a classifier of the paper's accuracy explains neither every sign nor every size of "
            "the paper's softmax errors.")


def noise_verdict(difference: float, se: float) -> str:
    """A sentence saying whether ``difference`` lies within two of its standard errors ``se`` of zero
    (Monte Carlo noise) or beyond them."""
    if difference == 0:
        return "That difference is zero."
    if not se > 0:
        raise ValueError(f"se: must be > 0 for a nonzero difference, got {se}")
    z = abs(difference) / se
    if z <= 2:
        return f"That difference is {z:.1f} standard errors from zero: Monte Carlo noise."
    return f"That difference is {z:.1f} standard errors from zero: more than Monte Carlo noise."


def bayes_plug_in_table(truth: dict[int, float], n_samples: int, seed: int) -> pd.DataFrame:
    """Check 1, one row per d in ``truth`` (d -> I(X;Y) of the imbalanced mixture): :func:`bayes_plug_in`,
    the score mean log p(y|x) - log P(y) whose expectation is I(X;Y), on ``n_samples`` draws
    (seed ``seed + 1``)."""
    rows = []
    for d, mi in truth.items():
        g = gx.mixture("imbalanced", d)
        x, y = g.sample(n_samples, seed=seed + 1)
        rows.append(dict(d=d, **bayes_plug_in(g, x, y, mi)))
    return pd.DataFrame(rows)


def formulas_table(setting: str, truth: dict[int, float], n_samples: int, seed: int) -> pd.DataFrame:
    """Checks 3 (``setting`` "balanced") and 4 ("imbalanced"), one row per d in ``truth``:
    :func:`formulas_against_truth`, i.e. E[log softmax_y(log p(y|x))] + log M - I, predicted to be
    log M - H(Y), and E[log PC-softmax_y(log p(x|y))] - I, predicted zero, on ``n_samples`` draws
    (seed ``seed + 2``)."""
    rows = []
    for d, mi in truth.items():
        g = gx.mixture(setting, d)
        x, y = g.sample(n_samples, seed=seed + 2)
        rows.append(dict(d=d, **formulas_against_truth(g, x, y, mi)))
    return pd.DataFrame(rows)


#: Half the width of the rounding of the paper's Table 1: accuracies in whole percent (points), MI to 0.01
#: nats. A difference of two of its MI values (the paper's softmax error) is known to twice the latter.
PAPER_ACCURACY_ROUNDING = 0.5
PAPER_NATS_ROUNDING = 0.005


def prior_mismatch_table(truth: dict[int, float], n_samples: int, seed: int) -> pd.DataFrame:
    """The prior-mismatch identity with pi uniform, one row per d in ``truth`` (imbalanced mixture),
    for a softmax classifier degraded (:func:`noisy_logits`) to Table 1's softmax accuracy at that d:

        E[log e^{f_y} / sum_y' pi(y') e^{f_y'}] = I(X;Y) - E_x KL(p || q_pi) + KL(P || pi),

    both sides (:func:`prior_mismatch`), z = (lhs - rhs) / se, the balanced formula's error
    ``ours_error`` = lhs - I and the paper's softmax error ``paper_error``; ``n_samples`` draws with
    seed ``seed + d``, noise seed ``seed``. The paper's accuracies are rounded to whole percent, so
    ``ours_error_low`` and ``ours_error_high`` repeat ``ours_error`` for a classifier degraded to the
    quoted accuracy minus and plus :data:`PAPER_ACCURACY_ROUNDING` points (same sample and noise)."""
    rows = []
    for d, mi in truth.items():
        g = gx.mixture("imbalanced", d)
        uniform = np.full(g.n_classes, 1 / g.n_classes)
        x, y = g.sample(n_samples, seed=seed + d)
        quoted = paper.TABLE_1.set_index("dim").loc[d]
        sigma = sigma_for_accuracy(g, x, y, quoted["acc_softmax"] / 100, seed=seed)
        logits = noisy_logits(g, x, sigma, seed=seed)
        r = prior_mismatch(g, x, y, logits, uniform, mi)
        ends = []
        for shift in (-PAPER_ACCURACY_ROUNDING, PAPER_ACCURACY_ROUNDING):
            sigma_end = sigma_for_accuracy(g, x, y, (quoted["acc_softmax"] + shift) / 100, seed=seed)
            ends.append(balanced_formula(noisy_logits(g, x, sigma_end, seed=seed), y) - mi)
        rows.append(dict(d=d, accuracy=100 * accuracy(logits, y), **r,
                         ours_error=r["lhs"] - mi, paper_error=quoted["softmax"] - quoted["gt"],
                         ours_error_low=min(ends), ours_error_high=max(ends)))
    table = pd.DataFrame(rows)
    table["z"] = (table.lhs - table.rhs) / np.hypot(table.lhs_se, table.rhs_se)
    return table


def critics_table(truth: dict[int, float], n_samples: int, seed: int) -> pd.DataFrame:
    """PC-softmax against Donsker-Varadhan, one row per d in ``truth`` (imbalanced mixture), for the
    critic f = log p(y|x) + N(0, 1) noise (:func:`noisy_logits`, noise seed ``seed``):
    :func:`pc_softmax_bound` E[f_y - log sum_y' P(y') e^{f_y'}] >= :func:`donsker_varadhan`
    E f_y - log E_x sum_y' P(y') e^{f_y'} (Jensen), on ``n_samples`` draws (seed ``seed + 5``)."""
    rows = []
    for d, mi in truth.items():
        g = gx.mixture("imbalanced", d)
        x, y = g.sample(n_samples, seed=seed + 5)
        logits = noisy_logits(g, x, 1.0, seed=seed)
        rows.append(dict(d=d, ground_truth=mi, pc_softmax=pc_softmax_bound(logits, y, g.priors),
                         donsker_varadhan=donsker_varadhan(logits, y, g.priors)))
    return pd.DataFrame(rows)


def kl_gap_table(mi: float, n_samples: int, seed: int) -> pd.DataFrame:
    """Check 2, one row per critic of :func:`degraded_critics` (noise seed ``seed + 4``) on ``n_samples``
    draws (seed ``seed + 3``) of the imbalanced d = 2 mixture, whose I(X;Y) is ``mi``:
    :func:`kl_gap`, i.e. I - E[log PC-softmax_y(f)] against E_x KL(p(.|x) || q(.|x))."""
    g = gx.mixture("imbalanced", 2)
    x, y = g.sample(n_samples, seed=seed + 3)
    return pd.DataFrame([dict(critic=name, **kl_gap(g, x, y, f, mi))
                         for name, f in degraded_critics(g, x, seed=seed + 4).items()])


def checks_table(tables: dict[str, pd.DataFrame], best_tau: dict[str, float]) -> pd.DataFrame:
    """Every checked number of the page in one long table (check, d, quantity, value), the table the
    validation compares (``bound-checks``). ``tables``: the page's tables by name, "mismatch"
    (:func:`prior_mismatch_table`), "sweep" (:func:`zipf_sweep`; its d is the Zipf exponent),
    "check1", "critics", "check2" (d = 2, one check per critic), "check3", "check4"; ``best_tau``:
    :func:`best_tau_against_zero` (d = 1)."""
    t = tables
    return pd.concat([
        t["mismatch"].melt(id_vars="d", var_name="quantity").assign(check="prior-mismatch identity"),
        t["sweep"].melt(id_vars="exponent", var_name="quantity").rename(columns={"exponent": "d"})
        .assign(check="zipf sweep (d is the exponent)"),
        t["check1"].melt(id_vars="d", var_name="quantity").assign(check="bayes plug-in vs ground truth"),
        t["critics"].melt(id_vars="d", var_name="quantity").assign(check="pc-softmax vs DV"),
        t["check2"].melt(id_vars="critic", var_name="quantity")
        .assign(d=2, check=lambda c: "critic gap vs expected KL, " + c.critic),
        t["check3"].melt(id_vars="d", var_name="quantity").assign(check="formulas vs truth, balanced classes"),
        t["check4"].melt(id_vars="d", var_name="quantity")
        .assign(check="formulas vs truth, imbalanced classes"),
        pd.DataFrame({"quantity": list(best_tau), "value": list(best_tau.values())})
        .assign(d=1, check="best tau on the grid vs the likelihood rule"),
    ])[["check", "d", "quantity", "value"]]
