"""pcsm: softmax cross-entropy as a mutual-information estimator (Qin, Kim and Gedeon).

Modules: ``losses`` (PC-softmax), ``estimators`` (MI from logits), ``gaussian`` (mixtures with known
MI), ``metrics``, ``training`` (one training loop), ``results`` (result tables), ``runner`` (papermill).
"""

__version__ = "0.1.0"
