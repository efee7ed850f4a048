"""The paper's experiments, one module per chapter, each the only place its protocol lives.

``gaussian_mi`` (Table 1: MI estimates on Gaussian mixtures), ``mnist`` (Table 2, left: imbalanced
MNIST and Fashion-MNIST), ``cub`` (Table 2, right: CUB-200-2011), ``classification`` and
``imbalance`` (the imbalanced-classification protocol they share), ``results`` (where tables and
data live) and ``bench`` (estimator benchmarks). Imports ``pcsm.core``, never ``pcsm.book``.
"""
