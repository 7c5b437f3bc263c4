"""Task history in SQLite (`outputs/db.sqlite3`), the only module that touches it.

A record is written when a task enters the queue and again when it ends; live
status is kept in memory by the task itself. All writes go through one thread
that owns the only write connection, so neither the event loop nor Fooocus's
worker ever waits on the disk. Reads use a connection per thread. WAL lets
readers and the writer work at once.

At start, records left `pending` or `running` by a process that died are
marked `interrupted`.
"""
from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger("fooocus_api")

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL DEFAULT 'api',
    req_params TEXT NOT NULL DEFAULT '{}',
    webhook_url TEXT NOT NULL DEFAULT '',
    in_queue_mills INTEGER NOT NULL,
    start_mills INTEGER,
    finish_mills INTEGER,
    task_status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    result TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    webhook TEXT
);
CREATE INDEX IF NOT EXISTS tasks_in_queue_mills ON tasks (in_queue_mills);
CREATE INDEX IF NOT EXISTS tasks_ended ON tasks (in_queue_mills DESC, id DESC)
    WHERE task_status NOT IN ('pending', 'running');
"""

COLUMNS = ("id", "task_id", "source", "req_params", "webhook_url", "in_queue_mills",
           "start_mills", "finish_mills", "task_status", "progress", "result", "error", "webhook")
JSON_COLUMNS = ("req_params", "result", "webhook")
JSON_DEFAULTS = {"req_params": {}, "result": [], "webhook": None}
UNFINISHED = ("pending", "running")

Write = Callable[[sqlite3.Connection], None]


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._writes: queue.Queue[Write | None] = queue.Queue()
        self._write_connection = self._connect()
        self._migrate()
        self._writer = threading.Thread(target=self._write_loop, name="fooocus_api-history",
                                        daemon=True)
        self._writer.start()

    # -- writing ------------------------------------------------------------------------

    def add(self, record: dict[str, Any], on_row_id: Callable[[int], None]) -> None:
        values = _row_values(record)

        def write(connection: sqlite3.Connection) -> None:
            cursor = connection.execute(
                f"INSERT INTO tasks ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()))
            on_row_id(int(cursor.lastrowid))

        self._writes.put(write)

    def save(self, record: dict[str, Any]) -> threading.Event:
        """Queue an update of the record; the event is set once it is committed."""
        values = _row_values(record)
        task_id = values.pop("task_id")
        committed = threading.Event()

        def write(connection: sqlite3.Connection) -> None:
            assignments = ", ".join(f"{column} = ?" for column in values)
            try:
                connection.execute(f"UPDATE tasks SET {assignments} WHERE task_id = ?",
                                   (*values.values(), task_id))
                connection.commit()
            finally:
                committed.set()

        self._writes.put(write)
        return committed

    def delete_between(self, start_mills: int, end_mills: int) -> list[dict[str, Any]]:
        """Delete the ended tasks queued in [start, end]; the records deleted.

        Runs on the writer thread, so it is ordered after every write queued before it.
        """
        where, parameters = _ended_between(start_mills, end_mills)
        deleted: list[dict[str, Any]] = []
        done = threading.Event()

        def write(connection: sqlite3.Connection) -> None:
            try:
                rows = connection.execute(f"SELECT {', '.join(COLUMNS)} FROM tasks {where}",
                                          parameters).fetchall()
                connection.execute(f"DELETE FROM tasks {where}", parameters)
                deleted.extend(_record(row) for row in rows)
            finally:
                done.set()

        self._writes.put(write)
        done.wait()
        return deleted

    def save_webhook(self, task_id: str, outcome: dict[str, Any]) -> None:
        text = json.dumps(outcome)
        self._writes.put(lambda connection: connection.execute(
            "UPDATE tasks SET webhook = ? WHERE task_id = ?", (text, task_id)))

    def undelivered_webhooks(self, tries: int) -> list[dict[str, Any]]:
        """Ended tasks whose webhook was never sent, or was cut off mid-retry."""
        rows = self._select(
            f"WHERE webhook_url != '' AND task_status NOT IN ({', '.join('?' * len(UNFINISHED))})"
            " AND (webhook IS NULL OR (json_extract(webhook, '$.delivered') = 0"
            " AND json_extract(webhook, '$.attempts') < ?))", (*UNFINISHED, tries))
        return rows

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every write queued so far is committed."""
        done = threading.Event()
        self._writes.put(lambda connection: done.set())
        return done.wait(timeout)

    def close(self) -> None:
        self._writes.put(None)
        self._writer.join(timeout=10)

    def _write_loop(self) -> None:
        while True:
            write = self._writes.get()
            if write is None:
                return
            try:
                with self._write_connection:
                    write(self._write_connection)
            except sqlite3.Error:
                logger.exception("history: a write to %s failed", self.path)

    def _migrate(self) -> None:
        connection = self._write_connection
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} has schema version {version}; this plugin knows "
                               f"{SCHEMA_VERSION}. Upgrade the plugin.")
        with connection:
            connection.executescript(SCHEMA)
            _add_missing_columns(connection)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            marked = connection.execute(
                "UPDATE tasks SET task_status = 'interrupted', finish_mills = ? "
                "WHERE task_status IN (?, ?)", (int(time.time() * 1000), *UNFINISHED)).rowcount
        if marked:
            logger.warning("history: %d task(s) were cut off by the last shutdown; marked "
                           "interrupted", marked)

    # -- reading ------------------------------------------------------------------------

    def get(self, task_id: str) -> dict[str, Any] | None:
        rows = self._select("WHERE task_id = ?", (task_id,))
        return rows[0] if rows else None

    def page(self, limit: int, offset: int, start_mills: int | None = None,
             end_mills: int | None = None) -> list[dict[str, Any]]:
        """Ended tasks, newest first."""
        where, parameters = _ended_between(start_mills, end_mills)
        # Skipping `offset` rows walks the small partial index only, not the table.
        rows = self._select(f"WHERE id IN (SELECT id FROM tasks {where} ORDER BY "
                            f"in_queue_mills DESC, id DESC LIMIT ? OFFSET ?)",
                            (*parameters, limit, offset))
        return sorted(rows, key=lambda row: (row["in_queue_mills"], row["id"]), reverse=True)

    def _select(self, clause: str, parameters: tuple[Any, ...]) -> list[dict[str, Any]]:
        cursor = self._read_connection().execute(
            f"SELECT {', '.join(COLUMNS)} FROM tasks {clause}", parameters)
        return [_record(row) for row in cursor.fetchall()]

    def _read_connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Schema 1 had no `webhook` column."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(tasks)")}
    if "webhook" not in present:
        connection.execute("ALTER TABLE tasks ADD COLUMN webhook TEXT")


def _ended_between(start_mills: int | None, end_mills: int | None) -> tuple[str, tuple[Any, ...]]:
    # Written out (not bound) so that SQLite can use the partial index tasks_ended.
    clauses = ["task_status NOT IN ('pending', 'running')"]
    parameters: list[Any] = []
    if start_mills is not None:
        clauses.append("in_queue_mills >= ?")
        parameters.append(start_mills)
    if end_mills is not None:
        clauses.append("in_queue_mills <= ?")
        parameters.append(end_mills)
    return "WHERE " + " AND ".join(clauses), tuple(parameters)


def _row_values(record: dict[str, Any]) -> dict[str, Any]:
    values = {column: record.get(column) for column in COLUMNS if column != "id"}
    for column in JSON_COLUMNS:
        value = values[column] if values[column] is not None else JSON_DEFAULTS[column]
        values[column] = json.dumps(value) if value is not None else None
    values["webhook_url"] = values["webhook_url"] or ""
    values["progress"] = values["progress"] or 0
    return values


def _record(row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(COLUMNS, row))
    for column in JSON_COLUMNS:
        if record[column] is not None:
            record[column] = json.loads(record[column])
    return record
