"""Run a Python program with the test clock moved (tests/clock.py): `python tests/system/shifted.py manage.py worker`
or `python tests/system/shifted.py -m gunicorn …`. System tests start their processes through it."""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.clock import travel_if_asked

if __name__ == "__main__":
    travel_if_asked()
    if sys.argv[1] == "-m":
        sys.argv = [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
