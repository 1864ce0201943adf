"""``courrier bulk`` at volume on SQLite: time, peak memory, and what another process sees.

A CSV file of N rows (``email,name,city``) is checked and queued (:func:`read_campaign`,
:func:`queue_campaign`) into a fresh SQLite file, in this process. Meanwhile a second
process opens the same store every 0.2 s, as each ``courrier send`` does, and queues one
transactional message; it reports how many tries it made, the longest one, and any failure.

Reported: rows, seconds to check, seconds to queue, peak RSS of the importing process (MB),
and the other process's tries, slowest try (s) and failures. Exit status 1 when the other
process failed at all or waited more than 2 s once.

    python bench/bulk.py [--rows 200000] [--batch 500]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import resource
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

from courrier.errors import CourrierError
from courrier.message import Message
from courrier.sending.campaign import queue_campaign, read_campaign
from courrier.sending.outbox import enqueue
from courrier.store import Store

SENDER = "news@example.com"


def write_list(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["email", "name", "city"])
        for n in range(rows):
            writer.writerow([f"reader{n}@example.net", f"Reader {n}", "Lyon"])


def other_process(
    url: str, stop: Event, results: multiprocessing.Queue[tuple[int, float, int]]
) -> None:
    tries, slowest, failures = 0, 0.0, 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            store = Store(url)
            enqueue(
                store,
                Message(sender=SENDER, to=["one@example.net"], subject="s", text="t"),
                key=f"other:{tries}",
            )
            store.close()
        except CourrierError as err:
            failures += 1
            print(f"other process: {type(err).__name__}: {err}", file=sys.stderr)
        tries += 1
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.2)
    results.put((tries, slowest, failures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "list.csv"
        write_list(path, args.rows)
        url = f"sqlite:///{folder}/bench.db"
        Store(url).close()
        stop = multiprocessing.Event()
        results: multiprocessing.Queue[tuple[int, float, int]] = multiprocessing.Queue()
        other = multiprocessing.Process(target=other_process, args=(url, stop, results))
        other.start()
        started = time.monotonic()
        plan = read_campaign(path, template="news", sender=SENDER)
        checked = time.monotonic()
        store = Store(url)
        report = queue_campaign(store, plan, batch_rows=args.batch)
        done = time.monotonic()
        store.close()
        stop.set()
        tries, slowest, failures = results.get(timeout=60)
        other.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"rows {args.rows} (queued {report.created}), check {checked - started:.1f} s, "
        f"queue {done - checked:.1f} s, peak RSS {peak:.0f} MB; other process: {tries} tries, "
        f"slowest {slowest:.2f} s, {failures} failed"
    )
    return 1 if failures or slowest > 2 else 0


if __name__ == "__main__":
    sys.exit(main())
