"""Every number quoted from the paper (Qin, Kim and Gedeon, *Rethinking Softmax with Cross-Entropy*), as
data: the chapters, the paper-vs-book summary and the tests read them from here.

* ``TABLE_1``: Gaussian mixtures, imbalanced prior 1:2:3:4:5 (accuracies in %, MI in nats);
* ``TABLE1_ESTIMATES``: Table 1's MI estimates, its column name: the name the book gives it;
* ``TABLE_2_MNIST``: average per-class accuracy (%) on MNIST, one run each, on the authors' test split;
* ``TABLE_2_CUB``: average per-class accuracy (%) on CUB-200-2011;
* ``PRIOR_TABLE_1``: the class prior of Table 1's imbalanced setting;
* ``PAPER_ROUNDING``: half a unit of the last digit each table prints.
"""

from __future__ import annotations

import pandas as pd

PRIOR_TABLE_1 = (1 / 15, 2 / 15, 3 / 15, 4 / 15, 5 / 15)
# Half a unit of the paper's last printed digit: Table 1 accuracies are whole percent, MI two decimals.
PAPER_ROUNDING = {"accuracy": 0.5, "mi": 0.005, "table2": 0.005}

TABLE_1 = pd.DataFrame(
    {
        "dim": [1, 2, 5, 10],
        "acc_softmax": [79.0, 87.0, 93.0, 95.0],
        "acc_pc-softmax": [79.0, 88.0, 95.0, 96.0],
        "gt": [1.02, 1.23, 1.44, 1.48],
        "mine": [0.99, 1.17, 1.27, 1.22],
        "softmax": [1.11, 1.31, 1.41, 1.36],
        "pc-softmax": [0.96, 1.20, 1.31, 1.34],
    }
)
TABLE1_ESTIMATES = {"mine": "MINE", "softmax": "softmax (balanced formula)", "pc-softmax": "PC-softmax"}

TABLE_2_MNIST = pd.DataFrame(
    {
        "dataset": ["mnist"] * 4,
        "split": ["balanced", "balanced", "imbalanced", "imbalanced"],
        "test_set": ["paper split"] * 4,
        "method": ["softmax", "pc-softmax"] * 2,
        "paper_pct": [97.95, 97.91, 95.05, 96.30],
    }
)

TABLE_2_CUB = pd.DataFrame(
    {
        "protocol": ["balanced", "balanced", "imbalanced", "imbalanced"],
        "method": ["softmax", "pc-softmax", "softmax", "pc-softmax"],
        "paper_pct": [89.21, 89.16, 84.63, 87.69],
    }
)
