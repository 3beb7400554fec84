"""Run a Python entry point as a child process and measure it: wall clock and its own peak resident memory.

The peak is the child's VmHWM, written by the child as it exits: Linux's ru_maxrss (getrusage, wait4) carries
the high-water mark of the process that forked it across exec, so every child of the bench (which holds moto
and ten thousand snapshots) would report the bench's own memory.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PEAK_FILE = "BENCH_PEAK_FILE"
# Runs "module:function" as the program, argv as given, and at exit writes VmHWM (kB) to $BENCH_PEAK_FILE.
LAUNCHER = """\
import atexit, os, re, sys
def peak():
    with open('/proc/self/status') as status, open(os.environ['{peak_file}'], 'w') as out:
        out.write(re.search(r'VmHWM:\\s*(\\d+)', status.read())[1])
atexit.register(peak)
from {module} import {function}
sys.exit({function}())
"""


@dataclass(frozen=True)
class Measured:
    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str

    def check(self, what: str) -> Measured:
        if self.returncode != 0:
            sys.stderr.write(self.stderr[-4000:])
            raise RuntimeError(f"{what} exited with {self.returncode} (its stderr is above)")
        return self


def measured(python: str, entry: str, args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> Measured:
    """Run `entry` ("module:function") in a fresh `python` with `args` to its end, measured."""
    module, function = entry.split(":")
    code = LAUNCHER.format(peak_file=PEAK_FILE, module=module, function=function)
    with tempfile.TemporaryDirectory(prefix="bench-child-") as folder:
        peak = Path(folder) / "peak"
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-c", code, *args],
            env={**env, PEAK_FILE: str(peak)},
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        return Measured(
            returncode=done.returncode,
            wall_s=wall,
            peak_rss_mb=int(peak.read_text()) / 1024 if peak.exists() else float("nan"),
            stdout=done.stdout,
            stderr=done.stderr,
        )
