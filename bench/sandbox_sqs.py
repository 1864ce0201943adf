"""SQS throughput of the sandbox at queue depths 100 and 10,000.

For each depth: batched SendMessageBatch, then ReceiveMessage(10) + DeleteMessageBatch, over
the real HTTP port with boto3, printed as messages per second. The baseline is the same
measurement at depth 100 in the same run; the target is a per-message cost at depth 10,000
within 2x of it (exit status 1 when missed).

With ``--stock`` the same loop also runs against moto's stock SQS (its own server, in a
subprocess), at depths 100 and 2,000 only: stock moto rescans the queue on every send, so
filling it to 10,000 takes longer than the whole benchmark.

    python bench/sandbox_sqs.py [--messages 2000] [--stock]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import boto3
from botocore.config import Config

DEPTHS = (100, 10_000)
STOCK_DEPTHS = (100, 2_000)


def client(url: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}),
    )


def fill(sqs: Any, queue: str, count: int) -> None:
    for start in range(0, count, 10):
        entries = [
            {"Id": str(i), "MessageBody": f"filler-{start + i}"}
            for i in range(min(10, count - start))
        ]
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)


def measure(url: str, depth: int, messages: int) -> dict[str, float]:
    sqs = client(url)
    queue = sqs.create_queue(
        QueueName=f"bench-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "600"}
    )["QueueUrl"]
    fill(sqs, queue, depth)
    started = time.perf_counter()
    fill(sqs, queue, messages)
    send_seconds = time.perf_counter() - started

    received = 0
    started = time.perf_counter()
    while received < messages:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            raise RuntimeError("queue ran dry before the measurement ended")
        result = sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
        if result.get("Failed"):
            raise RuntimeError(f"delete failed: {result['Failed']}")
        received += len(batch)
    receive_seconds = time.perf_counter() - started
    sqs.delete_queue(QueueUrl=queue)
    return {"send": messages / send_seconds, "receive_delete": received / receive_seconds}


def serve_and_measure(kind: str, messages: int) -> dict[str, dict[str, float]]:
    depths = DEPTHS if kind == "sandbox" else STOCK_DEPTHS
    if kind == "sandbox":
        from courrier_sandbox import Sandbox

        server: Any = Sandbox()
        url = server.start()
    else:
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
    try:
        return {str(depth): measure(url, depth, messages) for depth in depths}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--stock-messages", type=int, default=200)
    parser.add_argument("--stock", action="store_true", help="also measure stock moto")
    parser.add_argument("--child", choices=["sandbox", "stock"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        count = args.messages if args.child == "sandbox" else args.stock_messages
        print(json.dumps(serve_and_measure(args.child, count)))
        return

    results = {}
    for kind in ("sandbox", *(("stock",) if args.stock else ())):
        # Each server in its own process: moto's state and our hooks are per process.
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--messages",
                str(args.messages),
                "--stock-messages",
                str(args.stock_messages),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"{'server':<9} {'depth':>6} {'send msg/s':>11} {'recv+del msg/s':>15}")
    for kind, by_depth in results.items():
        for depth, rates in by_depth.items():
            print(f"{kind:<9} {depth:>6} {rates['send']:>11.0f} {rates['receive_delete']:>15.0f}")
    sandbox = results["sandbox"]
    small, large = sandbox[str(DEPTHS[0])], sandbox[str(DEPTHS[1])]
    print()
    failed = False
    for name in ("send", "receive_delete"):
        # Per-message cost ratio = inverse of the throughput ratio.
        ratio = small[name] / large[name]
        verdict = "ok" if ratio <= 2.0 else "OVER TARGET"
        failed |= ratio > 2.0
        print(
            f"sandbox {name}: cost per message at depth {DEPTHS[1]} is {ratio:.2f}x "
            f"that at depth {DEPTHS[0]} (target <= 2.00x) {verdict}"
        )
    if "stock" in results:
        stock = results["stock"]
        low, high = (str(d) for d in STOCK_DEPTHS)
        for name in ("send", "receive_delete"):
            ratio = stock[low][name] / stock[high][name]
            print(
                f"stock moto {name}: cost per message at depth {high} is {ratio:.2f}x that "
                f"at depth {low}"
            )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
