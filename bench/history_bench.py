"""How fast /tasks reads history at 1,000,000 records (prints figures; not a test).

    python bench/history_bench.py [--rows 1000000] [--queries 200] [--database-url URL]

Fills a fresh outputs/db.sqlite3 in a temporary folder through the plugin's own
SQLiteHistory class (bulk insert of realistic records), then times the queries that
`GET /tasks` runs: newest-first pages at small and deep offsets, and time-range
pages. Target: p95 <= 20 ms on the project's 2-core machine.

With --database-url the same runs on PostgreSQL through PostgresHistory; the
database must be one the benchmark may fill (an empty one of its own).
"""
from __future__ import annotations

import argparse
import json
import logging
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
from fooocus_api.history import COLUMNS, row_values  # noqa: E402
from fooocus_api.history_postgres import PostgresHistory  # noqa: E402
from fooocus_api.history_sqlite import SQLiteHistory  # noqa: E402

logger = logging.getLogger("history_bench")
TARGET_MS = 20.0
DAY_MS = 24 * 3600 * 1000


def realistic_rows(rows: int, start_mills: int) -> Iterator[tuple]:
    params = json.dumps({"prompt": "a lighthouse at dusk", "performance_selection": "Speed",
                         "image_number": 2, "uov_input_image": "/inputs/" + "0" * 32 + ".png"})
    columns = COLUMNS[1:]
    step = (30 * DAY_MS) // rows
    for number in range(rows):
        queued = start_mills + number * step
        record = {"task_id": f"{number:032x}", "source": "api", "req_params": json.loads(params),
                  "webhook_url": "", "in_queue_mills": queued, "start_mills": queued + 10,
                  "finish_mills": queued + 20000, "task_status": "finished", "progress": 100,
                  "result": [f"/outputs/2024-07-04/2024-07-04_17-36-09_{number}.png"],
                  "error": None, "webhook": None}
        values = row_values(record)
        yield tuple(values[column] for column in columns)


def fill(history: SQLiteHistory, rows: int, start_mills: int) -> None:
    connection = history._write_connection
    batch = []
    for row in realistic_rows(rows, start_mills):
        batch.append(row)
        if len(batch) == 20000:
            _insert(connection, COLUMNS[1:], batch)
            batch = []
    if batch:
        _insert(connection, COLUMNS[1:], batch)


def fill_postgres(url: str, rows: int, start_mills: int) -> None:
    import psycopg

    with psycopg.connect(url) as connection:
        with connection.cursor().copy(f"COPY tasks ({', '.join(COLUMNS[1:])}) FROM STDIN") as copy:
            for row in realistic_rows(rows, start_mills):
                copy.write_row(row)
    with psycopg.connect(url, autocommit=True) as connection:
        # What autovacuum does soon after a bulk load; index-only scans need it.
        connection.execute("VACUUM ANALYZE tasks")


def _insert(connection, columns, batch) -> None:
    with connection:
        connection.executemany(f"INSERT INTO tasks ({', '.join(columns)}) VALUES "
                               f"({', '.join('?' * len(columns))})", batch)


def timed(function, queries: int) -> list[float]:
    durations = []
    for _ in range(queries):
        started = time.perf_counter()
        function()
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def report(name: str, durations: list[float]) -> None:
    ordered = sorted(durations)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    verdict = "PASS" if p95 <= TARGET_MS else "MISS"
    logger.info("%-44s p50 %7.2f ms   p95 %7.2f ms   %s", name, statistics.median(ordered),
                p95, verdict)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", default=None,
                        help="an empty PostgreSQL database to fill (default: SQLite)")
    options = parser.parse_args()

    logger.info("machine: %s, %s, Python %s, SQLite %s", platform.processor() or platform.machine(),
                platform.platform(), platform.python_version(), __import__("sqlite3").sqlite_version)
    start = int(time.time() * 1000) - 30 * DAY_MS
    began = time.perf_counter()
    if options.database_url:
        history = PostgresHistory(options.database_url)
        fill_postgres(options.database_url, options.rows, start)
        logger.info("filled %d records in %.1f s (PostgreSQL at %s)", options.rows,
                    time.perf_counter() - began, history.location)
    else:
        folder = Path(tempfile.mkdtemp())
        history = SQLiteHistory(folder / "db.sqlite3")
        fill(history, options.rows, start)
        logger.info("filled %d records in %.1f s (%.0f MB)", options.rows,
                    time.perf_counter() - began, (folder / "db.sqlite3").stat().st_size / 1e6)

    pages = options.rows // 10
    window = 3600 * 1000
    report("history page 0, page_size 10", timed(lambda: history.page(10, 0), options.queries))
    report("history page 0, page_size 100", timed(lambda: history.page(100, 0), options.queries))
    report("history random page (size 10) of the first 1000",
           timed(lambda: history.page(10, random.randrange(1000) * 10), options.queries))
    report(f"history deepest pages (offset ~{pages * 10:,})",
           timed(lambda: history.page(10, (pages - 1 - random.randrange(10)) * 10),
                 max(10, options.queries // 10)))
    report("time range (1 h window), page_size 100",
           timed(lambda: history.page(100, 0, *_window(start, window)), options.queries))
    report("time range (1 day window), page 5 of 10",
           timed(lambda: history.page(10, 50, *_window(start, DAY_MS)), options.queries))
    report("one task by task_id",
           timed(lambda: history.get(f"{random.randrange(options.rows):032x}"), options.queries))


def _window(start: int, width: int) -> tuple[int, int]:
    begin = start + random.randrange(29 * DAY_MS)
    return begin, begin + width


if __name__ == "__main__":
    main()
