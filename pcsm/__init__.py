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

``from pcsm import estimate_mi`` loads the core layer only, and only on first use (PEP 562): importing
any other ``pcsm`` module does not load the estimator, so a chapter depends on ``pcsm.core.mi`` only when
it uses it (``pcsm.book.dependencies`` reads ``LAZY`` to follow such names).
"""

import importlib

# public name -> the module that defines it, imported when the name is first used
LAZY = {"MIEstimate": "pcsm.core.mi", "estimate_mi": "pcsm.core.mi"}

__all__ = sorted(LAZY)
__version__ = "0.1.0"


def __getattr__(name: str):
    """``pcsm.<name>`` for the names of ``LAZY``, imported from their module on first use."""
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module 'pcsm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *LAZY})
