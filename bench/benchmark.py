"""How much the API costs on top of Fooocus's worker: latency, previews, loop lag, memory.

    .venv/bin/python bench/benchmark.py [--tasks 10000] [--phases ...]

Drives the real plugin over HTTP inside the stand-in Fooocus (tests/standin),
started by tests/fooocus_server.py on 127.0.0.1. Not a test: CI does not run it.
See bench/README.md for what each figure means and how it is measured.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
from fooocus_server import GENERATE, FooocusServer, standin_checkout, start_server  # noqa: E402

FINAL = ("finished", "failed", "stopped", "skipped", "canceled", "interrupted")
STAMP = re.compile(r" @(\d+\.\d+)")
BODY = {"prompt": "benchmark", "image_number": 1}
MODES = {
    "async": ({"async_process": True}, {}),
    "stream": ({"stream_output": True}, {}),
    "binary": ({}, {"Accept": "image/png"}),
    "sync": ({}, {"Accept": "application/json"}),
}
AT_ONCE = {"FOOOCUS_STANDIN_STEP_SECONDS": "0", "FOOOCUS_STANDIN_STEPS": "2",
           "FOOOCUS_STANDIN_STAMP": "1"}
PACKAGES = ("fastapi", "starlette", "uvicorn", "pydantic", "gradio", "httpx", "pillow", "numpy")
PHASES = ("latency", "handoff", "preview", "lag", "memory")
GAP_SECONDS = (0.02, 0.04)
TASK_TIMEOUT = 60.0
IDLE_SECONDS = 30.0


@dataclass
class Figure:
    name: str
    value: float | None
    unit: str
    target: float | None
    detail: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None or self.value is None:
            return "info"
        return "PASS" if self.value <= self.target else "MISS"


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        target = f"<= {figure.target:g} {figure.unit}" if figure.target is not None else "-"
        value = f"{figure.value:.2f} {figure.unit}" if figure.value is not None else "n/a"
        print(f"  {figure.name}: {value} (target {target}) {figure.verdict}  {figure.detail}",
              flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  {text}", flush=True)


# -- statistics and the machine ---------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def spread(values_ms: list[float]) -> str:
    if not values_ms:
        return "no samples"
    return (f"n={len(values_ms)} p50={quantile(values_ms, 0.5):.2f} "
            f"p95={quantile(values_ms, 0.95):.2f} max={max(values_ms):.2f} ms")


def load_average() -> str:
    return "load avg " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> list[str]:
    cpu = _first_line_with("/proc/cpuinfo", "model name") or platform.processor()
    memory_kib = (_first_line_with("/proc/meminfo", "MemTotal").split() or ["0"])[0]
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    return [f"CPU: {cpu}, {os.cpu_count()} logical cores",
            f"Memory: {int(memory_kib) / 2**20:.1f} GiB",
            f"OS: {platform.platform()}",
            f"Python: {platform.python_version()} ({sys.executable})",
            "Packages: " + ", ".join(versions),
            f"Plugin: {plugin_revision()}",
            f"At start: {load_average()} (another process, the real Fooocus, may be busy)"]


def plugin_revision() -> str:
    """The commit the plugin was copied from, and whether extension/ had local changes."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(BENCH.parent), *args], capture_output=True,
                              text=True, timeout=30)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("log", "-1", "--format=%h %s")[:72] or "unknown"
    return commit + (" (+ local changes)" if git("status", "--porcelain", "extension") else "")


def _first_line_with(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_server(folder: Path, env: dict[str, str]) -> Iterator[FooocusServer]:
    server = start_server(folder, env=env)
    try:
        yield server
    except BaseException:
        print("--- last lines of the server log ---\n" + "\n".join(server.log.splitlines()[-30:]))
        raise
    finally:
        server.stop()


# -- one task, seen from the client -----------------------------------------------------------


def run_task(client: httpx.Client, mode: str, request: dict[str, Any] = BODY,
             poll_seconds: float = 0.001, timeout: float = TASK_TIMEOUT) -> float:
    """Seconds from sending the request to seeing the result, in one reply mode; an
    async task is polled every `poll_seconds`."""
    extra, headers = MODES[mode]
    body = {**request, **extra}
    started = time.perf_counter()
    if mode == "async":
        task_id = client.post(GENERATE, json=body).json()["task_id"]
        _poll_until_final(client, task_id, poll_seconds, timeout)
    elif mode == "stream":
        with client.stream("POST", GENERATE, json=body) as reply:
            for line in reply.iter_lines():
                if line.startswith("data: ") and '"task_status"' in line:
                    break
    else:
        reply = client.post(GENERATE, json=body, headers=headers)
        if reply.status_code != 200:
            raise RuntimeError(f"{mode} reply {reply.status_code}: {reply.text[:200]}")
    return time.perf_counter() - started


def _poll_until_final(client: httpx.Client, task_id: str, interval: float,
                      timeout: float = TASK_TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/tasks/{task_id}").json()
        if record["task_status"] in FINAL:
            return record
        time.sleep(interval)
    raise RuntimeError(f"task {task_id} did not end within {timeout} s")


def bare_worker(folder: Path, env: dict[str, str], tasks: int, batch: int) -> dict[str, Any]:
    """The stand-in's worker alone, in a subprocess, on the same request."""
    checkout = standin_checkout(folder)
    job = {"request": BODY, "tasks": tasks, "batch": batch, "gap_seconds": GAP_SECONDS}
    done = subprocess.run([sys.executable, str(BENCH / "bare_worker.py"), str(checkout),
                           json.dumps(job)], env={**os.environ, **env}, cwd=checkout,
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"bare worker failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


# -- 1. added latency per reply mode ----------------------------------------------------------


def added_latency(server: FooocusServer, bare: dict[str, Any], tasks: int,
                  report: Report) -> None:
    bare_ms = [seconds * 1000 for seconds in bare["append_to_finish"]]
    report.note(f"bare worker append->finish: {spread(bare_ms)}")
    gaps = random.Random(2)
    with server.client() as client:
        for mode in MODES:
            for _ in range(3):
                run_task(client, mode)
            seen_ms = []
            for _ in range(tasks):
                time.sleep(gaps.uniform(*GAP_SECONDS))
                seen_ms.append(run_task(client, mode) * 1000)
            added_p50 = quantile(seen_ms, 0.5) - quantile(bare_ms, 0.5)
            added_p95 = quantile(seen_ms, 0.95) - quantile(bare_ms, 0.95)
            report.add(Figure(f"1 added latency {mode:6} p95", added_p95, "ms", 15,
                              f"(p50 {added_p50:.2f}; client {spread(seen_ms)}; {load_average()})"))


# -- 4. hand-off from one task to the next ----------------------------------------------------


def hand_off(server: FooocusServer, bare: dict[str, Any], tasks: int, report: Report) -> None:
    streams = asyncio.run(_queued_streams(server.url, tasks))
    with server.client() as client:
        records = [client.get(f"/tasks/{task_id}").json() for task_id, _ in streams]
    stamps = {task_id: steps for task_id, steps in streams}

    records.sort(key=lambda record: record["start_mills"])
    record_gaps, worker_gaps = [], []
    for previous, following in zip(records, records[1:]):
        if following["in_queue_mills"] > previous["start_mills"]:
            continue  # not queued yet when the previous one ran: no hand-off to time
        record_gaps.append(following["start_mills"] - previous["finish_mills"])
        worker_gaps.append((stamps[following["task_id"]][0]
                            - stamps[previous["task_id"]][-1]) * 1000)

    bare_gaps = [(following["step_stamps"][0] - previous["step_stamps"][-1]) * 1000
                 for previous, following in zip(bare["batch"], bare["batch"][1:])]
    bare_pure = [(following["first_append"] - previous["finish"]) * 1000
                 for previous, following in zip(bare["batch"], bare["batch"][1:])]
    report.note(f"bare worker, finish -> next task's first report: {spread(bare_pure)}")
    report.note(f"bare worker, last step -> next task's first step: {spread(bare_gaps)}")
    report.add(Figure("4 hand-off, records: next start - prev finish, p95",
                      quantile(record_gaps, 0.95) if record_gaps else None, "ms", 15,
                      f"({spread([float(gap) for gap in record_gaps])}; Fooocus polls every "
                      f"10 ms; target = poll + 5 ms)"))
    plugin_p95 = quantile(worker_gaps, 0.95) if worker_gaps else None
    report.add(Figure("4 hand-off, worker side: added over bare, p95",
                      plugin_p95 - quantile(bare_gaps, 0.95) if plugin_p95 else None, "ms", 5,
                      f"(last step -> next first step, plugin {spread(worker_gaps)})"))


async def _queued_streams(url: str, count: int) -> list[tuple[str, list[float]]]:
    """Start `count` stream tasks at once; each one's id and its step stamps."""
    limits = httpx.Limits(max_connections=count + 4, max_keepalive_connections=count + 4)
    async with httpx.AsyncClient(base_url=url, timeout=TASK_TIMEOUT, limits=limits) as client:

        async def one() -> tuple[str, list[float]]:
            steps: list[float] = []
            async with client.stream("POST", GENERATE,
                                     json={**BODY, "stream_output": True}) as reply:
                async for line in reply.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    event = json.loads(line[6:])
                    stamp = STAMP.search(event["message"])
                    if stamp:
                        steps.append(float(stamp.group(1)))
                    if "task_status" in event:
                        return event["task_id"], steps
            raise RuntimeError("a stream ended without its final event")

        return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))),
                                      TASK_TIMEOUT * 2)


# -- 2. preview latency -----------------------------------------------------------------------


def preview_latency(server: FooocusServer, side: int, tasks: int, report: Report) -> None:
    lags_ms: list[float] = []
    sizes: list[int] = []
    with server.client() as client:
        for _ in range(tasks):
            with client.stream("POST", GENERATE, json={**BODY, "stream_output": True}) as reply:
                for line in reply.iter_lines():
                    received = time.time()
                    stamp = STAMP.search(line)
                    if stamp:
                        lags_ms.append((received - float(stamp.group(1))) * 1000)
                        sizes.append(len(line))
                    if '"task_status"' in line:
                        break
    # The 64 px run shows the path without the cost of encoding a large JPEG.
    report.add(Figure(f"2 preview latency {side}px, yield -> SSE client, p95",
                      quantile(lags_ms, 0.95), "ms", 5 if side == 1024 else None,
                      f"({spread(lags_ms)}; event ~{sum(sizes) // max(1, len(sizes))} bytes; "
                      f"{load_average()})"))


# -- 3. event-loop lag under load ---------------------------------------------------------------


@dataclass
class Load:
    running: str | None = None
    polls: list[float] = field(default_factory=list)
    poll_errors: int = 0
    previews: list[float] = field(default_factory=list)
    streams_ended: int = 0
    stream_errors: int = 0


def loop_lag(server: FooocusServer, clients: int, rate: int, seconds: float,
             report: Report) -> None:
    with server.client() as client:
        client.get("/v1/engine/status").raise_for_status()  # starts the monitor
        time.sleep(IDLE_SECONDS)
        idle = client.get("/v1/engine/status").json()["event_loop_lag"]
    report.add(Figure("3 event-loop lag idle (reference), p99", idle.get("p99_ms"), "ms", None,
                      f"({idle.get('samples')} samples over {IDLE_SECONDS:.0f} s, max "
                      f"{idle.get('max_ms')} ms; {load_average()})"))
    # The monitor keeps its last 1,200 samples (60 s): after a 60 s load, only the load's.
    server_cpu, client_cpu, wall = cpu_seconds(server.process.pid), time.process_time(), \
        time.monotonic()
    load = asyncio.run(_load(server.url, clients, rate, seconds))
    wall = time.monotonic() - wall
    server_cpu = (cpu_seconds(server.process.pid) - server_cpu) / wall * 100
    client_cpu = (time.process_time() - client_cpu) / wall * 100
    with server.client() as client:
        lag = client.get("/v1/engine/status").json()["event_loop_lag"]

    report.add(Figure("3 event-loop lag under load, p99", lag.get("p99_ms"), "ms", 20,
                      f"(samples {lag.get('samples')}, p50 {lag.get('p50_ms')}, "
                      f"max {lag.get('max_ms')} ms; {load_average()})"))
    polls_ms = [seconds * 1000 for seconds in load.polls]
    report.note(f"load: {clients} SSE clients ({load.streams_ended} streams ended, "
                f"{load.stream_errors} errors), {len(load.polls) / seconds:.0f} polls/s achieved "
                f"of {rate} ({load.poll_errors} errors) for {seconds:.0f} s")
    report.note(f"  poll round trip {spread(polls_ms)}; preview latency under load "
                f"{spread(load.previews)}")
    report.note(f"  CPU during the load: server {server_cpu:.0f}%, this client {client_cpu:.0f}% "
                f"(100% = one core of {os.cpu_count()})")


async def _load(url: str, clients: int, rate: int, seconds: float) -> Load:
    load = Load()
    pollers = 20
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=TASK_TIMEOUT, limits=limits) as client:
        deadline = time.monotonic() + seconds
        streams = [asyncio.create_task(_stream_client(client, load)) for _ in range(clients)]
        jobs = [_watch_running(client, deadline, load)]
        port = httpx.URL(url).port
        jobs += [_poller(port, deadline, pollers / rate, index / rate, load)
                 for index in range(pollers)]
        await asyncio.wait_for(asyncio.gather(*jobs), seconds + 30)
        # A stream whose task still waits in the queue gets no line before its task
        # starts; close them all at the deadline (their tasks stay queued).
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return load


async def _watch_running(client: httpx.AsyncClient, deadline: float, load: Load) -> None:
    while time.monotonic() < deadline:
        load.running = (await client.get("/v1/engine/status")).json()["running"]
        await asyncio.sleep(0.25)


async def _stream_client(client: httpx.AsyncClient, load: Load) -> None:
    while True:
        try:
            async with client.stream("POST", GENERATE,
                                     json={**BODY, "stream_output": True}) as reply:
                async for line in reply.aiter_lines():
                    stamp = STAMP.search(line)
                    if stamp:
                        load.previews.append((time.time() - float(stamp.group(1))) * 1000)
                    if '"task_status"' in line:
                        load.streams_ended += 1
                        break
        except httpx.HTTPError:
            load.stream_errors += 1
            await asyncio.sleep(0.1)


async def _poller(port: int, deadline: float, period: float, offset: float,
                  load: Load) -> None:
    """GET /tasks/{running id} every `period` seconds over one keep-alive connection.

    A bare HTTP/1.1 client: httpx costs enough CPU per request that, on a small
    machine, the client rather than the server would set the pace.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    due = time.monotonic() + offset
    try:
        while True:
            now = time.monotonic()
            due = max(due + period, now)
            if due >= deadline:
                return
            await asyncio.sleep(due - now)
            if load.running is None:
                continue
            started = time.perf_counter()
            if await _get(reader, writer, f"/tasks/{load.running}") == 200:
                load.polls.append(time.perf_counter() - started)
            else:
                load.poll_errors += 1
    finally:
        writer.close()


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One GET on a kept-alive connection; its status (the body is read and dropped)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in head
                  if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(head[0].split()[1])


# -- 5. memory over many tasks ----------------------------------------------------------------


def memory(server: FooocusServer, tasks: int, submitters: int, report: Report) -> None:
    pid = server.process.pid
    rss = {0: rss_mib(pid)}
    done = 0
    started = time.monotonic()
    checkpoints = sorted({min(1000, tasks), *range(1000, tasks + 1, 1000), tasks})
    for checkpoint in checkpoints:
        _submit_async(server, checkpoint - done, submitters)
        done = checkpoint
        time.sleep(2)  # let the history writer and the settle thread drain
        rss[done] = rss_mib(pid)
        print(f"    {done} tasks: RSS {rss[done]:.1f} MiB "
              f"({done / (time.monotonic() - started):.0f} tasks/s, {load_average()})", flush=True)

    report.note("RSS by tasks done: " + ", ".join(f"{count}: {mib:.1f}" for count, mib in
                                                  rss.items()) + " MiB")
    first = rss[min(1000, tasks)]
    growth = (rss[tasks] / first - 1) * 100
    report.add(Figure(f"5 RSS growth, 1,000 -> {tasks:,} tasks", growth, "%", 5,
                      f"({first:.1f} -> {rss[tasks]:.1f} MiB; start {rss[0]:.1f} MiB; "
                      f"{submitters} submitters, async mode)"))


def _submit_async(server: FooocusServer, count: int, submitters: int) -> None:
    claimed = iter(range(count))
    claim = threading.Lock()
    errors: list[BaseException] = []

    def submitter() -> None:
        with server.client() as client:
            while True:
                with claim:
                    if next(claimed, None) is None:
                        return
                try:
                    reply = client.post(GENERATE, json={**BODY, "async_process": True})
                    _poll_until_final(client, reply.json()["task_id"], interval=0.01)
                except Exception as error:  # report, do not hang the other submitters
                    errors.append(error)
                    return

    threads = [threading.Thread(target=submitter) for _ in range(submitters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"submitting failed: {errors[0]!r}")


# -- the run ------------------------------------------------------------------------------------


def main() -> int:
    options = _parser().parse_args()
    phases = set(options.phases)
    report = Report()
    print("\n".join(machine()), flush=True)

    with tempfile.TemporaryDirectory(prefix="fooocus-bench-") as scratch:
        folder = Path(scratch)
        if phases & {"latency", "handoff"}:
            _at_once_phases(folder, options, phases, report)
        if phases & {"preview", "lag"}:
            _preview_phases(folder, options, phases, report)
        if "memory" in phases:
            _memory_phase(folder, options, report)

    _print_table(report)
    return 0


def _at_once_phases(folder: Path, options: argparse.Namespace, phases: set[str],
                    report: Report) -> None:
    print(f"\n[tasks that finish at once: {AT_ONCE}]", flush=True)
    bare = bare_worker(folder / "bare", AT_ONCE, options.latency_tasks, options.handoff_tasks)
    with running_server(folder / "at-once", AT_ONCE) as server:
        if "latency" in phases:
            added_latency(server, bare, options.latency_tasks, report)
        if "handoff" in phases:
            hand_off(server, bare, options.handoff_tasks, report)


def _preview_phases(folder: Path, options: argparse.Namespace, phases: set[str],
                    report: Report) -> None:
    for side in (1024, 64):
        env = {"FOOOCUS_STANDIN_STEP_SECONDS": str(options.step_seconds),
               "FOOOCUS_STANDIN_STEPS": "5", "FOOOCUS_STANDIN_PREVIEW_SIZE": str(side),
               "FOOOCUS_STANDIN_STAMP": "1"}
        print(f"\n[slow steps with {side}x{side} previews: {env}]", flush=True)
        with running_server(folder / f"previews-{side}", env) as server:
            if "preview" in phases:
                preview_latency(server, side, options.preview_tasks, report)
            if "lag" in phases and side == 1024:
                loop_lag(server, options.sse_clients, options.poll_rate, options.lag_seconds,
                         report)
        if "preview" not in phases:
            return


def _memory_phase(folder: Path, options: argparse.Namespace, report: Report) -> None:
    print(f"\n[memory: {options.tasks} tasks that finish at once, fresh server]", flush=True)
    with running_server(folder / "memory", AT_ONCE) as server:
        memory(server, options.tasks, options.submitters, report)


def _print_table(report: Report) -> None:
    width = max(len(figure.name) for figure in report.figures) if report.figures else 10
    print(f"\n{'figure':{width}}  {'measured':>12}  {'target':>10}  result")
    for figure in report.figures:
        value = f"{figure.value:.2f} {figure.unit}" if figure.value is not None else "n/a"
        target = f"<= {figure.target:g} {figure.unit}" if figure.target is not None else "-"
        print(f"{figure.name:{width}}  {value:>12}  {target:>10}  {figure.verdict}")
    print(f"({load_average()} at the end)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--latency-tasks", type=int, default=80, help="tasks per reply mode")
    parser.add_argument("--handoff-tasks", type=int, default=100, help="tasks queued at once")
    parser.add_argument("--preview-tasks", type=int, default=20,
                        help="stream tasks of 5 steps each for preview latency")
    parser.add_argument("--step-seconds", type=float, default=0.2)
    parser.add_argument("--sse-clients", type=int, default=50)
    parser.add_argument("--poll-rate", type=int, default=200, help="GET /tasks/{id} per second")
    parser.add_argument("--lag-seconds", type=float, default=60.0)
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks for the memory figure")
    parser.add_argument("--submitters", type=int, default=4)
    return parser


if __name__ == "__main__":
    sys.exit(main())
