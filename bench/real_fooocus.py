"""Time one small generation through each reply mode of a running real Fooocus.

    python bench/real_fooocus.py [--url http://127.0.0.1:7865] [--api-key KEY] [--rounds 2]

Start Fooocus 2.5.5 with the plugin installed and `--api` first (README). Each
round sends the same 256x256, 2-step Lightning request once per reply mode and
prints how long the client waited for the result. Compare with the same task
through Fooocus's worker alone (e.g. the harness's `fooocus_task.py --size 256x256
--steps 2 --performance Lightning --repeat 5`). Not a test: CI does not run it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from urllib.parse import urlsplit

import httpx

from benchmark import MODES, machine, run_task

# Styles and everything else left to the preset, as the harness's fooocus_task.py does.
REQUEST = {"prompt": "a lighthouse at dusk", "image_number": 1,
           "performance_selection": "Lightning", "overwrite_width": 256,
           "overwrite_height": 256, "overwrite_step": 2, "image_seed": 12345}
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def main() -> int:
    options = _parser().parse_args()
    if urlsplit(options.url).hostname not in LOCAL_HOSTS:
        sys.exit("--url must be this machine (127.0.0.1 or localhost)")
    headers = {"X-API-KEY": options.api_key} if options.api_key else {}
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    with httpx.Client(base_url=options.url, headers=headers, timeout=options.timeout) as client:
        warm_up = run_task(client, "sync", REQUEST, timeout=options.timeout)
        for _ in range(options.rounds):
            for mode in MODES:
                times[mode].append(run_task(client, mode, REQUEST, options.poll_seconds,
                                            options.timeout))
    _print_report(options, warm_up, times)
    return 0


def _print_report(options: argparse.Namespace, warm_up: float,
                  times: dict[str, list[float]]) -> None:
    print("\n".join(machine()))
    print(f"Fooocus at {options.url}")
    print(f"first (warm-up) task, sync: {warm_up:.2f} s")
    print(f"{'mode':8} {'runs (s)':32} median")
    for mode, seconds in times.items():
        runs = ", ".join(f"{value:.2f}" for value in seconds)
        print(f"{mode:8} {runs:32} {statistics.median(seconds):.2f}")
    print(f"(async polls GET /tasks/{{id}} every {options.poll_seconds} s)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7865")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per task")
    return parser


if __name__ == "__main__":
    sys.exit(main())
