"""Command line: ``python -m pcsm run [NOTEBOOK ...] [--profile {smoke,default,paper}]``,
``python -m pcsm validate [NOTEBOOK ...]``, ``python -m pcsm bench mi`` and ``python -m pcsm claims``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pcsm.book import runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcsm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks with papermill (skips up-to-date ones)")
    run.add_argument("notebooks", nargs="*", help="names from notebooks/profiles.toml (default: all)")
    run.add_argument("--profile", choices=runner.PROFILES,
                     help="default: each notebook's published profile (profiles.toml)")
    run.add_argument("--output-dir", type=Path, help="where executed notebooks go (default: in place)")
    run.add_argument("--results-dir", type=Path, help="where result tables go (default: results/)")
    run.add_argument("--force", action="store_true", help="execute even when up to date")
    validate = commands.add_parser(
        "validate", help="re-execute each notebook's validation subset and compare aggregates with results/")
    validate.add_argument("notebooks", nargs="*", help="names from notebooks/profiles.toml (default: all)")
    bench = commands.add_parser("bench", help="benchmarks (accuracy and wall time), not tests")
    bench.add_argument("name", choices=["mi"], help="mi: MI estimators on the paper's Gaussian tasks")
    bench.add_argument("--output", type=Path, help="JSON file for the results")
    bench.add_argument("--quick", action="store_true", help="a subset of the tasks (about a fifth)")
    bench.add_argument("--jobs", type=int, default=1, help="joblib worker processes (default 1)")
    commands.add_parser("claims", help="print the README's paper-vs-book table from results/")
    args = parser.parse_args(argv)
    if args.command in ("run", "validate"):
        try:
            if args.command == "validate":
                from pcsm.book import validate as validation

                return validation.validate(args.notebooks)
            return runner.run(args.notebooks, args.profile, args.output_dir, args.results_dir, args.force)
        except ValueError as error:
            parser.error(str(error))
    if args.command == "claims":
        from pcsm.book import summary

        print(summary.markdown_table(summary.claims(summary.paper_vs_book())), end="")
        return 0
    if args.command == "bench":
        from pcsm.experiments import bench as benchmarks

        return benchmarks.main(args.name, args.output, args.quick, args.jobs)
    return 2


if __name__ == "__main__":
    sys.exit(main())
