"""Run the benchmarks and update docs/performance.md.

    python bench/run.py                      # every scenario (about 25 minutes)
    python bench/run.py --quick              # fewer repeats, no latency scenario
    python bench/run.py --scenario steady-1000 --scenario startup
    python bench/run.py --list

Loopback only: a generated feed server and mastodon-mock, each in its own process. Results go
to bench/results/NAME.json; the table in docs/performance.md is rebuilt from all of them.
Not part of the test suite (pytest's testpaths is tests/).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from measure import RUNTIME, use_runtime
from report import ROOT, machine, save, update_document
from scenarios import SCENARIOS, SLOW, Context, run_scenario


def main() -> int:
    parser = argparse.ArgumentParser(description="fedibridge benchmarks")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="run only this (repeatable)"
    )
    parser.add_argument("--quick", action="store_true", help="2 repeats; skip slow scenarios")
    parser.add_argument("--repeats", type=int, help="repeats per figure (default 5, quick 2)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--same-venv",
        action="store_true",
        help="run the bridge from this interpreter's venv, not from a runtime-only venv "
        f"({RUNTIME}, made with pip install -e on first use)",
    )
    args = parser.parse_args()
    if args.list:
        for name in SCENARIOS:
            print(name + ("  (skipped by --quick)" if name in SLOW else ""))
        return 0
    bin_dir = use_runtime(None if args.same_venv else RUNTIME, ROOT)
    print(f"bridge runs from {bin_dir}", flush=True)
    names = args.scenario or [n for n in SCENARIOS if not (args.quick and n in SLOW)]
    repeats = args.repeats or (2 if args.quick else 5)
    root = Path(tempfile.mkdtemp(prefix="fedibridge-bench-"))
    context = Context(root=root, quick=args.quick, repeats=repeats)
    described = machine(bin_dir)
    failed = []
    try:
        for name in names:
            print(f"== {name}", flush=True)
            clock = time.perf_counter()
            try:
                result = run_scenario(name, context)
            except Exception as error:  # one broken scenario must not lose the others
                print(f"   FAILED: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
                failed.append(name)
                continue
            save(result, described)
            for figure in result.figures:
                verdict = {True: "  [target met]", False: "  [TARGET NOT MET]", None: ""}[
                    figure.met
                ]
                print(f"   {figure.label}: {figure.median:.4g} {figure.unit}{verdict}")
            print(f"   ({time.perf_counter() - clock:.0f} s)", flush=True)
    finally:
        if args.keep:
            print(f"scratch folder kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if not args.no_doc:
        print(f"updated {update_document()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
