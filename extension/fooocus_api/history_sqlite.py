"""Task history in SQLite (`outputs/db.sqlite3`), the only module that touches it.

All writes go through one thread that owns the only write connection. Reads use
a connection per thread. WAL lets readers and the writer work at once.

Schema versions (`PRAGMA user_version`): 1 had no `webhook`, 2 no `node`. A file
of an older version is brought up to date at start; its rows get node ''.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .history import (COLUMNS, DELETED_COLUMNS, UNFINISHED, HistoryUnavailable, Record, Write,
                      Writer, deleted_record_from_row, ended_between, newest_ids,
                      record_from_row, row_values, sorted_newest_first)

logger = logging.getLogger("fooocus_api")

SCHEMA_VERSION = 3

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
    webhook TEXT,
    node TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_in_queue_mills ON tasks (in_queue_mills);
CREATE INDEX IF NOT EXISTS tasks_ended ON tasks (in_queue_mills DESC, id DESC)
    WHERE task_status NOT IN ('pending', 'running');
"""

# Columns added since schema 1, in order, with their definitions.
ADDED_COLUMNS = (("webhook", "TEXT"), ("node", "TEXT NOT NULL DEFAULT ''"))

READ_CACHE_KIB = 256


class SQLiteHistory:
    def __init__(self, path: Path, node: str = "") -> None:
        self.path = path
        self.node = node
        self.location = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_connection = self._connect()
        self._migrate()
        self._writer: Writer[sqlite3.Connection] = Writer(self._transaction,
                                                          "fooocus_api-history")

    # -- writing ------------------------------------------------------------------------

    def add(self, record: Record, on_row_id: Callable[[int], None]) -> None:
        values = {**row_values(record), "node": self.node}

        def write(connection: sqlite3.Connection) -> None:
            cursor = connection.execute(
                f"INSERT INTO tasks ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()))
            on_row_id(int(cursor.lastrowid))

        self._writer.put(write)

    def save(self, record: Record) -> threading.Event:
        values = row_values(record)
        task_id = values.pop("task_id")
        assignments = ", ".join(f"{column} = ?" for column in values)
        committed = threading.Event()
        self._writer.put(lambda connection: connection.execute(
            f"UPDATE tasks SET {assignments} WHERE task_id = ?", (*values.values(), task_id)),
            committed)
        return committed

    def delete_between(self, start_mills: int, end_mills: int,
                       limit: int | None = None) -> list[Record]:
        where, parameters = ended_between(start_mills, end_mills, "?")
        chosen = f"WHERE id IN ({newest_ids(where, limit, '?')})"
        deleted: list[Record] = []

        def write(connection: sqlite3.Connection) -> None:
            rows = connection.execute(f"SELECT {', '.join(DELETED_COLUMNS)} FROM tasks {chosen}",
                                      parameters).fetchall()
            connection.execute(f"DELETE FROM tasks {chosen}", parameters)
            deleted.extend(sorted_newest_first([deleted_record_from_row(row) for row in rows]))

        self._writer.run(write)
        return deleted

    def save_webhook(self, task_id: str, outcome: dict[str, Any]) -> None:
        text = json.dumps(outcome)
        self._writer.put(lambda connection: connection.execute(
            "UPDATE tasks SET webhook = ? WHERE task_id = ?", (text, task_id)))

    def undelivered_webhooks(self, tries: int) -> list[Record]:
        return self._select(
            f"WHERE node = ? AND webhook_url != ''"
            f" AND task_status NOT IN ({', '.join('?' * len(UNFINISHED))})"
            " AND (webhook IS NULL OR (json_extract(webhook, '$.delivered') = 0"
            " AND json_extract(webhook, '$.attempts') < ?))", (self.node, *UNFINISHED, tries))

    def flush(self, timeout: float = 10.0) -> bool:
        return self._writer.flush(timeout)

    def close(self) -> None:
        self._writer.close()

    def _transaction(self, write: Write[sqlite3.Connection]) -> bool:
        try:
            with self._write_connection:
                write(self._write_connection)
        except Exception:
            logger.exception("history: a write to %s failed", self.path)
            return False
        return True

    def _migrate(self) -> None:
        connection = self._write_connection
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryUnavailable(f"{self.path} has schema version {version}; this plugin "
                                     f"knows {SCHEMA_VERSION}. Upgrade the plugin.")
        with connection:
            connection.executescript(SCHEMA)
            _add_missing_columns(connection)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            marked = connection.execute(
                "UPDATE tasks SET task_status = 'interrupted', finish_mills = ? "
                "WHERE node = ? AND task_status IN (?, ?)",
                (int(time.time() * 1000), self.node, *UNFINISHED)).rowcount
        if marked:
            logger.warning("history: %d task(s) were cut off by the last shutdown; marked "
                           "interrupted", marked)

    # -- reading ------------------------------------------------------------------------

    def get(self, task_id: str) -> Record | None:
        rows = self._select("WHERE task_id = ?", (task_id,))
        return rows[0] if rows else None

    def page(self, limit: int, offset: int, start_mills: int | None = None,
             end_mills: int | None = None) -> list[Record]:
        where, parameters = ended_between(start_mills, end_mills, "?")
        # Skipping `offset` rows walks the small partial index only, not the table.
        rows = self._select(f"WHERE id IN (SELECT id FROM tasks {where} ORDER BY "
                            f"in_queue_mills DESC, id DESC LIMIT ? OFFSET ?)",
                            (*parameters, limit, offset))
        return sorted_newest_first(rows)

    def _select(self, clause: str, parameters: tuple[Any, ...]) -> list[Record]:
        cursor = self._read_connection().execute(
            f"SELECT {', '.join(COLUMNS)} FROM tasks {clause}", parameters)
        return [record_from_row(row) for row in cursor.fetchall()]

    def _read_connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            # One reader per request thread (up to 40): a small page cache each, or
            # together they hold 2 MB apiece of a file the OS caches anyway.
            connection.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
            self._local.connection = connection
        return connection

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Schema 1 had no `webhook` column, schema 2 no `node`."""
    present = {row[1] for row in connection.execute("PRAGMA table_info(tasks)")}
    for name, definition in ADDED_COLUMNS:
        if name not in present:
            connection.execute(f"ALTER TABLE tasks ADD COLUMN {name} {definition}")
