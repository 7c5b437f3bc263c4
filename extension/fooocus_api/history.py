"""What a task history is: the interface the plugin uses, the record it keeps, and
the choice of back end.

A record is written when a task enters the queue and again when it ends; live
status is kept in memory by the task itself. Every back end queues its writes to
one thread of its own, so neither the event loop nor Fooocus's worker ever waits
on a disk or a network; reads run on the caller's thread.

Back ends: `history_sqlite.py` (`outputs/db.sqlite3`, the default) and
`history_postgres.py` (`--api-database-url`, one history shared by several
nodes). Each row carries the name of the node that wrote it (`--api-node-name`);
at start a node marks only its own `pending` or `running` rows `interrupted`.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger("fooocus_api")

# The record shape, as both back ends store and return it. `node` is stored beside
# these columns but is not part of a record.
COLUMNS = ("id", "task_id", "source", "req_params", "webhook_url", "in_queue_mills",
           "start_mills", "finish_mills", "task_status", "progress", "result", "error", "webhook")
JSON_COLUMNS = ("req_params", "result", "webhook")
JSON_DEFAULTS: dict[str, Any] = {"req_params": {}, "result": [], "webhook": None}
UNFINISHED = ("pending", "running")

Record = dict[str, Any]


class HistoryUnavailable(RuntimeError):
    """The history cannot be opened, read or changed; the message says why. At start
    Fooocus stops on it; in a request it is a 503."""


class HistoryStore(Protocol):
    node: str
    location: str  # for logs: a file path, or a database URL without its password

    def add(self, record: Record, on_row_id: Callable[[int], None]) -> None:
        """Queue the insert of a new record; `on_row_id` gets its `id` once written."""

    def save(self, record: Record) -> threading.Event:
        """Queue an update of the record; the event is set once it is committed, or
        once the write has failed (and was logged)."""

    def save_webhook(self, task_id: str, outcome: dict[str, Any]) -> None:
        """Queue an update of the record's webhook outcome."""

    def delete_between(self, start_mills: int, end_mills: int,
                       limit: int | None = None) -> list[Record]:
        """Delete the ended tasks queued in [start, end] (the newest `limit` of them),
        after every write queued before; the records deleted, newest first, each with
        the `node` that wrote it. Raises HistoryUnavailable if that failed."""

    def undelivered_webhooks(self, tries: int) -> list[Record]:
        """This node's ended tasks whose webhook was never sent, or was cut off."""

    def get(self, task_id: str) -> Record | None:
        """The record of any node's task, or None."""

    def page(self, limit: int, offset: int, start_mills: int | None = None,
             end_mills: int | None = None) -> list[Record]:
        """Ended tasks of every node, queued in [start, end], newest first."""

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every write queued so far is committed."""

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""


def open_history(sqlite_path: Path, node: str, database_url: str | None = None) -> HistoryStore:
    """SQLite at `sqlite_path`, or PostgreSQL when a database URL is given.

    Raises HistoryUnavailable when the database cannot be used."""
    if not database_url:
        from .history_sqlite import SQLiteHistory

        return SQLiteHistory(sqlite_path, node)

    from .history_postgres import PostgresHistory

    return PostgresHistory(database_url, node)


Connection = TypeVar("Connection")
Write = Callable[[Connection], None]


class Writer(Generic[Connection]):
    """One thread that runs queued writes in order, each through `transaction`, which
    commits it and returns True, or logs why it failed and returns False."""

    def __init__(self, transaction: Callable[[Write[Connection]], bool], name: str) -> None:
        self._transaction = transaction
        self._writes: queue.Queue[_Queued[Connection] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, write: Write[Connection], done: threading.Event | None = None) -> None:
        """Queue a write; `done` is set once it is committed, or has failed."""
        self._writes.put(_Queued(write, done or threading.Event()))

    def run(self, write: Write[Connection]) -> None:
        """Run the write after every write queued before it; raises HistoryUnavailable
        if it failed."""
        queued = _Queued(write, threading.Event())
        self._writes.put(queued)
        queued.done.wait()
        if not queued.committed:
            raise HistoryUnavailable("the history could not be changed; the log says why")

    def flush(self, timeout: float) -> bool:
        done = threading.Event()
        self.put(lambda connection: None, done)
        return done.wait(timeout)

    def close(self) -> None:
        self._writes.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            queued = self._writes.get()
            if queued is None:
                return
            try:
                queued.committed = self._transaction(queued.write)
            finally:
                queued.done.set()


@dataclass
class _Queued(Generic[Connection]):
    write: Write[Connection]
    done: threading.Event
    committed: bool = False


def ended_between(start_mills: int | None, end_mills: int | None,
                  placeholder: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause of `page` and `delete_between`, in the driver's placeholder style."""
    # The statuses are written out (not bound) so that the partial index can be used.
    clauses = ["task_status NOT IN ('pending', 'running')"]
    parameters: list[Any] = []
    if start_mills is not None:
        clauses.append(f"in_queue_mills >= {placeholder}")
        parameters.append(start_mills)
    if end_mills is not None:
        clauses.append(f"in_queue_mills <= {placeholder}")
        parameters.append(end_mills)
    return "WHERE " + " AND ".join(clauses), tuple(parameters)


def newest_ids(where: str, limit: int | None, placeholder: str) -> str:
    """A subquery of the ids `delete_between` deletes, newest first."""
    cap = f" LIMIT {int(limit)}" if limit is not None else ""
    return (f"SELECT id FROM tasks {where} ORDER BY in_queue_mills DESC, id DESC{cap}")


def row_values(record: Record) -> dict[str, Any]:
    """A record as column values: JSON columns as text, no `id`."""
    values = {column: record.get(column) for column in COLUMNS if column != "id"}
    for column in JSON_COLUMNS:
        value = values[column] if values[column] is not None else JSON_DEFAULTS[column]
        values[column] = json.dumps(value) if value is not None else None
    values["webhook_url"] = values["webhook_url"] or ""
    values["progress"] = values["progress"] or 0
    return values


def record_from_row(row: tuple[Any, ...]) -> Record:
    """A row selected as COLUMNS, as a record."""
    record = dict(zip(COLUMNS, row))
    for column in JSON_COLUMNS:
        if record[column] is not None:
            record[column] = json.loads(record[column])
    return record


DELETED_COLUMNS = (*COLUMNS, "node")


def deleted_record_from_row(row: tuple[Any, ...]) -> Record:
    """A row selected as DELETED_COLUMNS: the record, and the node that wrote it."""
    return {**record_from_row(row[:-1]), "node": row[-1]}


def sorted_newest_first(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda record: (record["in_queue_mills"], record["id"]),
                  reverse=True)
