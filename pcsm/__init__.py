"""pcsm: softmax cross-entropy as a mutual-information estimator (Qin, Kim and Gedeon).

Modules: ``losses`` (PC-softmax), ``estimators`` (MI from logits), ``mi`` (``estimate_mi``, a trained
classifier as an MI estimator), ``baselines`` (MINE, kNN), ``gaussian`` (mixtures with known MI),
``metrics``, ``training`` (one training loop), ``imbalance``, ``mnist``, ``cub`` and ``features`` (data
and experiments), ``results``, ``provenance``, ``validate``, ``summary`` and ``runner`` (papermill).
"""

from pcsm.mi import MIEstimate, estimate_mi

__all__ = ["MIEstimate", "estimate_mi"]
__version__ = "0.1.0"
