"""The outbox kill test at full size: 1,000 messages, runners SIGKILLed at random moments.

``make test`` runs tests/faults/test_outbox_kill.py with 200 messages; this runs the same
test with more (on SQLite and, when ``COURRIER_TEST_POSTGRES_URL`` is set, PostgreSQL) and
prints how many ended sent and unknown.

    python bench/outbox_kill.py [--messages 1000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    os.environ["COURRIER_OUTBOX_KILL_COUNT"] = str(args.messages)
    os.environ["COURRIER_OUTBOX_KILL_ROUNDS"] = str(args.rounds)
    root = Path(__file__).resolve().parent.parent
    os.chdir(root)
    sys.path.insert(0, str(root))
    test = "tests/faults/test_outbox_kill.py::test_killed_runners_never_lose_or_repeat_a_message"
    return int(pytest.main(["-q", "-s", "-p", "no:randomly", "-p", "no:cacheprovider", test]))


if __name__ == "__main__":
    sys.exit(main())
