"""pcsm: softmax cross-entropy as a mutual-information estimator (Qin, Kim and Gedeon).

Three layers, each importing only from the ones above it in this list:

``pcsm.core``
    The estimator library: the PC-softmax loss, the MI bound from logits, ``estimate_mi``, Gaussian
    mixtures with known MI, the baselines (MINE, kNN, Bayes plug-in), models and one training loop.
    Needs torch, numpy and scipy (scikit-learn for the kNN baseline), not the book's stack.
``pcsm.experiments``
    The paper's experiments, one module per chapter (``gaussian_mi``, ``mnist``, ``cub``) plus the
    shared imbalanced-classification protocol, result tables and the ``bench`` benchmarks.
``pcsm.book``
    The book's machinery: the papermill runner, provenance, statistical re-validation of results,
    the paper-vs-book summary and glue helpers for the pages.

``from pcsm import estimate_mi`` loads the core layer only.
"""

from pcsm.core.mi import MIEstimate, estimate_mi

__all__ = ["MIEstimate", "estimate_mi"]
__version__ = "0.1.0"
