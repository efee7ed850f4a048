"""CUB-200-2011 (Table 2, right half): ``data`` (download, index, splits, stand-in), ``features``
(backbone features, cache, linear probes) and ``page`` (the chapter's checks, notice and summaries)."""
