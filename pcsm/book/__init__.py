"""The book's machinery: ``runner`` (papermill execution with a cache and atomic publishing),
``provenance``, ``validate`` (statistical re-validation of results against the committed seed
spread), ``summary`` (the paper-vs-book page) and ``glue`` (numbers for the prose). Imports
``pcsm.core`` and ``pcsm.experiments``; nothing imports it but the command line and the notebooks.
"""

from pcsm.experiments import require_book_extra

require_book_extra(("papermill", "nbformat", "nbclient", "matplotlib", "seaborn", "myst_nb"), "pcsm.book")
