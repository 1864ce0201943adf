"""Start-up cost of the ``courrier`` command against the AWS CLI's, measured in the same run.

Each command runs ``--runs`` times in turn (interleaved, so a busy moment hits all of them);
the figures are the median wall time and the median peak resident set size of the process.
Targets: ``courrier --help`` at most 0.7x the wall time of ``aws --version``, and at most
40 MB resident.

    python bench/cli.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_RATIO = 0.7
TARGET_RSS_MB = 40.0


def commands() -> dict[str, list[str]]:
    aws = shutil.which("aws", path=str(BIN)) or shutil.which("aws")
    if aws is None:
        sys.exit("the AWS CLI is the baseline: pip install awscli (it is in courrier[dev])")
    courrier = str(BIN / "courrier")
    return {
        "aws --version": [aws, "--version"],
        "courrier --help": [courrier, "--help"],
        "courrier send --help": [courrier, "send", "--help"],
        'python -c "import courrier"': [sys.executable, "-c", "import courrier"],
    }


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one run of ``argv``."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{argv} exited with {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    runs = commands()
    times: dict[str, list[float]] = {name: [] for name in runs}
    rss: dict[str, list[float]] = {name: [] for name in runs}
    for argv in runs.values():  # one warm-up each: the first run reads from disk
        measure(argv)
    for _ in range(args.runs):
        for name, argv in runs.items():
            elapsed, peak = measure(argv)
            times[name].append(elapsed)
            rss[name].append(peak)
    baseline = statistics.median(times["aws --version"])
    python = sys.version.split()[0]
    print(f"{args.runs} runs each, medians; python {python}, {os.cpu_count()} cores")
    print(f"{'command':32} {'wall s':>8} {'x aws':>7} {'peak MB':>8}")
    for name in runs:
        wall = statistics.median(times[name])
        print(f"{name:32} {wall:8.3f} {wall / baseline:7.2f} {statistics.median(rss[name]):8.1f}")
    ratio = statistics.median(times["courrier --help"]) / baseline
    peak = statistics.median(rss["courrier --help"])
    verdict = ratio <= TARGET_RATIO and peak <= TARGET_RSS_MB
    print(
        f"courrier --help: {ratio:.2f}x aws --version (target <= {TARGET_RATIO}), "
        f"{peak:.1f} MB (target <= {TARGET_RSS_MB:.0f}): {'met' if verdict else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
