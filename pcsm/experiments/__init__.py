"""The paper's experiments, one module per chapter, each the only place its protocol lives.

``gaussian_mi`` (Table 1: MI estimates on Gaussian mixtures), ``mnist`` (Table 2, left: imbalanced
MNIST and Fashion-MNIST), ``cub`` (Table 2, right: CUB-200-2011), ``classification`` and
``imbalance`` (the imbalanced-classification protocol they share), ``paper`` (every number quoted from
the paper), ``parallel`` (where the independent runs go: local worker processes or a Dask cluster),
``results`` (where tables and data live, written atomically) and ``bench`` (estimator benchmarks).
Imports ``pcsm.core``, never ``pcsm.book``.
"""

from importlib.util import find_spec

__all__ = ["require_book_extra"]


def require_book_extra(modules: tuple[str, ...], layer: str) -> None:
    """A ModuleNotFoundError naming ``pip install 'pcsm[book]'`` when any of ``modules`` (the third-party
    packages ``layer`` imports, all in the ``book`` extra) is not installed; ``pip install pcsm`` alone
    brings the core only."""
    missing = [name for name in modules if find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{layer} needs the book extra, which is not installed here ({', '.join(missing)} missing): "
            "pip install 'pcsm[book]'", name=missing[0])


require_book_extra(("pandas", "joblib", "torchvision"), "pcsm.experiments")
