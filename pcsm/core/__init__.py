"""The estimator library: what ``estimate_mi`` needs, and nothing of the book.

``losses`` (softmax and PC-softmax cross-entropy), ``estimators`` (the MI lower bound from logits),
``mi`` (``estimate_mi``: a trained classifier as an MI estimator), ``baselines`` (MINE, kNN, Bayes
plug-in), ``gaussian`` (mixtures with known MI), ``metrics``, ``models`` and ``training`` (the one
training loop and what every trainer shares: ``EarlyStopping``, ``resolve_device``, seeds, threads,
stratified splits). Arguments are checked once, at the public functions, by ``_checks``.
Imports torch, numpy and scipy only (the kNN baseline: scikit-learn); never ``pcsm.experiments`` or
``pcsm.book``.
"""
