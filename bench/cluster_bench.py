"""Throughput of a cluster of 1, 2 and 4 stand-in nodes, and the hand-off between tasks.

    .venv/bin/python bench/cluster_bench.py [--nodes 1 2 4] [--tasks-per-node 12] [--steps 10]

Starts a redis-server (the distribution's package) and stand-in Fooocus nodes on
127.0.0.1 through tests/fooocus_server.py, queues every task at once through
the first node, and prints figures. Not a test: CI does not run it. Each step
sleeps 50 ms, so a node's work is waiting, not CPU: the figures show what the
queue costs, not what this machine's cores can do.

- throughput: finished tasks per second, first POST to last finish; target with
  N nodes: N times one node's, within 10 %.
- hand-off: on one node, the next task's `start_mills` minus the previous task's
  `finish_mills`, while tasks were waiting in the shared queue (the node's feeder
  sees the worker idle, takes the next entry, rebuilds the task, and Fooocus's
  worker polls every 10 ms).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
from fooocus_server import GENERATE, FooocusServer, start_server  # noqa: E402
from redis_server import RedisServer, start_redis  # noqa: E402

STEP_SECONDS = "0.05"
FINAL = ("finished", "failed", "stopped", "skipped", "canceled", "interrupted")


def start_nodes(folder: Path, redis: RedisServer, count: int) -> list[FooocusServer]:
    def start(number: int) -> FooocusServer:
        home = folder / f"node{number}"
        home.mkdir()
        return start_server(home, flags=["--api-cluster", redis.url(count),
                                         "--api-node-name", f"node{number}"],
                            env={"FOOOCUS_STANDIN_STEP_SECONDS": STEP_SECONDS,
                                 "FOOOCUS_STANDIN_STEPS": "40"})

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def run(nodes: list[FooocusServer], tasks: int, steps: int) -> tuple[float, list[float]]:
    """Tasks per second, and the hand-offs in ms."""
    with httpx.Client(base_url=nodes[0].url, timeout=60) as client:
        began = time.monotonic()
        task_ids = [client.post(GENERATE, json={"prompt": f"bench {n}", "image_number": 1,
                                                "overwrite_step": steps,
                                                "async_process": True}).json()["task_id"]
                    for n in range(tasks)]
        records = [_until_final(client, task_id) for task_id in task_ids]
        seconds = time.monotonic() - began

    by_node = defaultdict(list)
    for record in records:
        by_node[record["node"]].append(record)
    hand_offs = []
    for done in by_node.values():
        done.sort(key=lambda record: record["start_mills"])
        for previous, following in zip(done, done[1:]):
            if following["in_queue_mills"] < previous["finish_mills"]:
                hand_offs.append(float(following["start_mills"] - previous["finish_mills"]))
    return len(records) / seconds, hand_offs


def _until_final(client: httpx.Client, task_id: str) -> dict:
    while True:
        record = client.get(f"/tasks/{task_id}").json()
        if record["task_status"] in FINAL:
            return record
        time.sleep(0.05)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--tasks-per-node", type=int, default=12)
    parser.add_argument("--steps", type=int, default=10)
    options = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    redis = start_redis(folder)
    base: float | None = None
    print(f"{'nodes':>5} {'tasks':>5} {'tasks/s':>8} {'vs linear':>9} "
          f"{'hand-off p50':>12} {'p95':>6}")
    try:
        for count in options.nodes:
            home = folder / f"cluster{count}"
            home.mkdir()
            nodes = start_nodes(home, redis, count)
            try:
                rate, hand_offs = run(nodes, count * options.tasks_per_node, options.steps)
            finally:
                for node in nodes:
                    node.stop()
            base = base if base is not None else rate / count
            print(f"{count:>5} {count * options.tasks_per_node:>5} {rate:>8.2f} "
                  f"{rate / (base * count):>8.0%} {quantile(hand_offs, 0.5):>10.1f} ms "
                  f"{quantile(hand_offs, 0.95):>4.1f} ms")
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
