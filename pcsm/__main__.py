"""Command line (the ``pcsm`` console script, or ``python -m pcsm``): ``pcsm run [NOTEBOOK ...]
[--profile {smoke,default,paper}] [--scheduler ADDRESS]``, ``pcsm validate [NOTEBOOK ...]``,
``pcsm bench {mi,train,memory}``, ``pcsm claims`` and ``pcsm mutants``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from pcsm.book import runner
from pcsm.book.validate import OTHER_CPU

SCHEDULER_HELP = ("address of an existing Dask scheduler (e.g. tcp://10.0.0.5:8786) that runs the independent "
                  "runs instead of worker processes here (default: $PCSM_SCHEDULER)")


def positive_int(text: str) -> int:
    """argparse type of ``--jobs``: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="pcsm", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks with papermill (skips up-to-date ones)")
    run.add_argument("notebooks", nargs="*", help="chapters of _toc.yml, by notebook name (default: all)")
    run.add_argument("--profile", choices=runner.PROFILES,
                     help="default: each chapter's published profile (its CHAPTER)")
    run.add_argument("--output-dir", type=Path, help="where executed notebooks go (default: in place)")
    run.add_argument("--results-dir", type=Path, help="where result tables go (default: results/)")
    run.add_argument("--force", action="store_true", help="execute even when up to date")
    run.add_argument("--scheduler", help=SCHEDULER_HELP)
    validate = commands.add_parser(
        "validate", help="re-execute each notebook's validation subset and compare aggregates with results/")
    validate.add_argument("notebooks", nargs="*", help="chapters of _toc.yml, by notebook name (default: all)")
    validate.add_argument("--scheduler", help=SCHEDULER_HELP)
    validate.add_argument("--report", type=Path, metavar="FILE",
                          help="also write the groups beyond their bounds to FILE as JSON "
                               "(what `pcsm mutants` reads)")
    bench = commands.add_parser("bench", help="benchmarks (accuracy and wall time), not tests")
    bench.add_argument("name", choices=["mi", "train", "memory"],
                       help="mi: MI estimators on the paper's Gaussian tasks; "
                       "train: time per training step of the book's networks under each speed lever; "
                       "memory: the peak memory estimate_mi adds per sample")
    bench.add_argument("--output", type=Path,
                       help="JSON file for the results (default: results/bench-NAME.json)")
    bench.add_argument("--quick", action="store_true",
                       help="mi: a subset of the tasks (about a fifth); train: tiny repeats, no torch.compile; "
                       "memory: two sizes")
    bench.add_argument("--jobs", type=positive_int, default=1,
                       help="joblib worker processes (default 1; mi only)")
    bench.add_argument("--scheduler", help=SCHEDULER_HELP)
    commands.add_parser("claims", help="print the README's paper-vs-book table from results/")
    commands.add_parser("status", help="each chapter: current or stale on its published profile, and why")
    mutants = commands.add_parser(
        "mutants", help="run the validation against deliberately broken methods (minutes each)")
    mutants.add_argument("names", nargs="*", help="mutants to run (default: all; --list names them)")
    mutants.add_argument("--other-cpu", action="store_true",
                         help=f"emulate another CPU ({' '.join(f'{k}={v}' for k, v in OTHER_CPU.items())})")
    mutants.add_argument("--list", action="store_true", help="check each substitution and list the mutants")
    mutants.add_argument("--power", action="store_true", help="the smallest departure each metric detects")
    return parser


def use_scheduler(address: str | None) -> None:
    """Send this process's (and its notebooks' kernels') independent runs to the Dask scheduler at
    ``address`` (None: ``$PCSM_SCHEDULER`` as set) by setting ``PCSM_SCHEDULER``; a ConnectionError
    naming the address, before any work starts, when nothing answers there."""
    from pcsm.experiments import parallel

    resolved = parallel.scheduler_from_env(address)
    if resolved is None:
        os.environ.pop(parallel.SCHEDULER_ENV, None)
        return
    parallel.connect(resolved).close()
    os.environ[parallel.SCHEDULER_ENV] = resolved


def check_output_file(output: Path | None, option: str, example: str) -> None:
    """``option`` names a JSON file whose folder exists and is writable (checked before the work runs,
    so a bad path costs nothing); ``example`` is a file name to suggest for a folder."""
    if output is None:
        return
    if output.is_dir():
        raise ValueError(f"{option}: {output} is a folder; give a JSON file name, e.g. {output / example}")
    if not output.parent.is_dir():
        raise ValueError(f"{option}: the folder {output.parent} does not exist")
    if not os.access(output.parent, os.W_OK):
        raise ValueError(f"{option}: the folder {output.parent} is not writable")


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed subcommand; its exit status."""
    if args.command == "mutants":
        from pcsm.book import mutants

        return mutants.main(args.names, args.other_cpu, args.list, args.power)
    if args.command == "claims":
        from pcsm.book import summary

        print(summary.markdown_table(summary.claims(summary.paper_vs_book())), end="")
        return 0
    if args.command == "status":
        from pcsm.book import status

        print(status.format_status(status.chapter_status()), end="")
        return 0
    use_scheduler(args.scheduler)
    if args.command == "validate":
        from pcsm.book import validate as validation

        check_output_file(args.report, "--report", "validation.json")
        return validation.validate(args.notebooks, report=args.report)
    if args.command == "bench":
        check_output_file(args.output, "--output", "bench-mi.json")
        if args.name == "train":
            from pcsm.experiments import bench_train

            return bench_train.main(args.output, args.quick)
        if args.name == "memory":
            from pcsm.experiments import bench_memory

            return bench_memory.main(args.output, args.quick)
        from pcsm.experiments import bench as benchmarks

        return benchmarks.main(args.name, args.output, args.quick, args.jobs)
    return runner.run(args.notebooks, args.profile, args.output_dir, args.results_dir, args.force)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that it unwinds as after Ctrl-C: scratch folders are
    removed, the notebook's kernel is shut down, nothing half-done is published."""


def raise_terminated(signum: int, frame: object) -> None:
    """SIGTERM handler of :func:`main`."""
    raise Terminated


def stopped(command: str, interrupt: KeyboardInterrupt) -> int:
    """Report Ctrl-C or SIGTERM in one line on stderr; the shell's status for it (128 + the signal)."""
    cause, status = ("SIGTERM", 128 + signal.SIGTERM) if isinstance(interrupt, Terminated) else \
        ("Ctrl-C", 128 + signal.SIGINT)
    print(f"pcsm {command}: stopped by {cause}; the work in progress was not published", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; its exit status. A ValueError or ConnectionError (a bad
    value, file or address, named) exits 2 with its message; Ctrl-C and SIGTERM end in one line on
    stderr with status 130 and 143."""
    parser = build_parser()
    args = parser.parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, raise_terminated) if in_main_thread else None
    try:
        return dispatch(args)
    except (ValueError, ConnectionError) as error:
        parser.error(str(error))
    except KeyboardInterrupt as interrupt:
        return stopped(args.command, interrupt)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
