"""One entry point for every benchmark: `python -m bench <name> --help`.

Each benchmark is a module `bench/<name>.py` with `add_arguments(parser)` and `run(args)`. Benchmarks need
PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/activityhub_bench) is created if missing.
"""

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/activityhub_bench"


def available():
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_") and m.name != "common")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="name", required=True)
    modules = {}
    for name in available():
        module = importlib.import_module(f"bench.{name}")
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0]))
    args = parser.parse_args(argv)
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "activityhub.settings")
    os.environ["DEBUG"] = "0"
    from bench.common import setup_database

    setup_database()
    modules[args.name].run(args)


if __name__ == "__main__":
    main()
