"""MNIST and Fashion-MNIST (Table 2, left half, and the imbalance sweep): ``data`` (get, check and load
the data sets, the authors' splits) and ``experiment`` (the chapter's run plan, training and tables)."""
