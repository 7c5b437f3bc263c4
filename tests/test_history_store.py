"""The history interface, the same on SQLite and PostgreSQL: nodes, commits, webhooks,
and SQLite's migration to schema 3."""
from __future__ import annotations

import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fooocus_server import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "extension"))
from fooocus_api.history import HistoryStore, HistoryUnavailable, open_history  # noqa: E402
from fooocus_api.history_postgres import redacted  # noqa: E402
from fooocus_api.history_sqlite import SQLiteHistory  # noqa: E402

OpenStore = Callable[[str], HistoryStore]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens the history of one shared location (a file, or a fresh database) as a node;
    every store opened is closed after the test."""
    database_url = None
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres").new_database()
    opened: list[HistoryStore] = []

    def open_as(node: str) -> HistoryStore:
        store = open_history(tmp_path / "db.sqlite3", node, database_url)
        opened.append(store)
        return store

    yield open_as
    for store in opened:
        store.close()


def record(status: str = "pending", **fields: object) -> dict:
    now = int(time.time() * 1000)
    return {"task_id": uuid.uuid4().hex, "source": "api", "req_params": {"prompt": "a cat"},
            "webhook_url": "", "in_queue_mills": now, "start_mills": None,
            "finish_mills": None, "task_status": status, "progress": 0, "result": [],
            "error": None, "webhook": None, **fields}


def added(store: HistoryStore, *records: dict) -> list[int]:
    row_ids: list[int] = []
    for each in records:
        store.add(each, row_ids.append)
    assert store.flush()
    return row_ids


def restart(store: HistoryStore, open_store: OpenStore) -> HistoryStore:
    store.close()
    return open_store(store.node)


# -- writing and reading --------------------------------------------------------------------

def test_add_reports_the_row_id_and_get_returns_the_record_as_given(open_store):
    store = open_store("")
    given = record(req_params={"prompt": "a cat", "image_number": 2, "loras": [["x", 0.5]]})

    [row_id] = added(store, given)

    assert store.get(given["task_id"]) == {**given, "id": row_id}


def test_save_returns_an_event_set_once_the_record_is_committed(open_store):
    store = open_store("")
    pending = record()
    added(store, pending)
    final = {**pending, "task_status": "finished", "result": ["/outputs/a.png"], "progress": 100}

    committed = store.save(final)

    assert isinstance(committed, threading.Event)
    assert committed.wait(10)
    assert store.get(pending["task_id"])["task_status"] == "finished"


def test_page_lists_ended_tasks_newest_first_and_pages_do_not_overlap(open_store):
    store = open_store("")
    base = int(time.time() * 1000)
    ended = [record("finished", in_queue_mills=base + number) for number in range(5)]
    added(store, *ended, record("running", in_queue_mills=base + 10))

    pages = [store.page(2, offset) for offset in (0, 2, 4)]

    listed = [each["task_id"] for page in pages for each in page]
    assert listed == [each["task_id"] for each in reversed(ended)]


def test_page_between_selects_by_queue_time_inclusive(open_store):
    store = open_store("")
    tasks = [record("finished", in_queue_mills=1000 + number) for number in range(4)]
    added(store, *tasks)

    listed = [each["task_id"] for each in store.page(10, 0, 1001, 1002)]

    assert listed == [tasks[2]["task_id"], tasks[1]["task_id"]]


def test_delete_between_deletes_only_ended_tasks_and_returns_them(open_store):
    store = open_store("")
    finished, running = record("finished", in_queue_mills=5), record("running", in_queue_mills=5)
    added(store, finished, running)

    deleted = store.delete_between(0, 10)

    assert [each["task_id"] for each in deleted] == [finished["task_id"]]
    assert store.get(finished["task_id"]) is None
    assert store.get(running["task_id"])["task_status"] == "running"


def test_delete_between_with_a_limit_deletes_the_newest_and_keeps_the_rest(open_store):
    store = open_store("")
    tasks = [record("finished", in_queue_mills=100 + number) for number in range(5)]
    added(store, *tasks)

    deleted = store.delete_between(0, 1000, limit=2)

    assert [each["task_id"] for each in deleted] == [tasks[4]["task_id"], tasks[3]["task_id"]]
    assert [each["task_id"] for each in store.page(10, 0, 0, 1000)] == \
        [tasks[2]["task_id"], tasks[1]["task_id"], tasks[0]["task_id"]]


def test_get_of_an_unknown_or_unstorable_task_id_is_none(open_store):
    store = open_store("")

    assert store.get("no-such-task") is None
    assert store.get("nul\x00inside") is None


# -- nodes ----------------------------------------------------------------------------------

def test_a_restart_marks_only_its_own_nodes_unfinished_tasks_interrupted(open_store):
    first, second = open_store("node-a"), open_store("node-b")
    mine_running, mine_pending = record("running"), record("pending")
    added(first, mine_running, mine_pending)
    theirs = record("running")
    added(second, theirs)

    restarted = restart(first, open_store)

    for task in (mine_running, mine_pending):
        stored = restarted.get(task["task_id"])
        assert stored["task_status"] == "interrupted"
        assert stored["finish_mills"] is not None
    assert restarted.get(theirs["task_id"])["task_status"] == "running"


def test_every_node_reads_every_nodes_tasks(open_store):
    first, second = open_store("node-a"), open_store("node-b")
    task = record("finished")
    added(first, task)

    assert second.get(task["task_id"])["task_id"] == task["task_id"]
    assert [each["task_id"] for each in second.page(10, 0)] == [task["task_id"]]


# -- webhooks -------------------------------------------------------------------------------

def test_webhook_outcome_is_kept_with_the_record(open_store):
    store = open_store("")
    task = record("finished", webhook_url="http://127.0.0.1:9/hook")
    added(store, task)
    outcome = {"attempts": 2, "status": 500, "error": "HTTP 500", "delivered": False}

    store.save_webhook(task["task_id"], outcome)
    assert store.flush()

    assert store.get(task["task_id"])["webhook"] == outcome


def test_undelivered_webhooks_are_this_nodes_unsent_or_cut_off_deliveries(open_store):
    store, other = open_store("node-a"), open_store("node-b")
    hook = {"webhook_url": "http://127.0.0.1:9/hook"}
    never_sent, cut_off = record("finished", **hook), record("failed", **hook)
    delivered, gave_up = record("finished", **hook), record("finished", **hook)
    still_running, no_hook = record("running", **hook), record("finished")
    added(store, never_sent, cut_off, delivered, gave_up, still_running, no_hook)
    added(other, record("finished", **hook))
    outcomes = {cut_off["task_id"]: {"attempts": 1, "delivered": False},
                delivered["task_id"]: {"attempts": 1, "delivered": True},
                gave_up["task_id"]: {"attempts": 4, "delivered": False}}
    for task_id, outcome in outcomes.items():
        store.save_webhook(task_id, outcome)
    assert store.flush()

    undelivered = store.undelivered_webhooks(tries=4)

    assert sorted(each["task_id"] for each in undelivered) == sorted(
        [never_sent["task_id"], cut_off["task_id"]])


# -- SQLite schema --------------------------------------------------------------------------

SCHEMA_2 = """
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL DEFAULT 'api', req_params TEXT NOT NULL DEFAULT '{}',
    webhook_url TEXT NOT NULL DEFAULT '', in_queue_mills INTEGER NOT NULL,
    start_mills INTEGER, finish_mills INTEGER, task_status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL DEFAULT '[]', error TEXT,
    webhook TEXT);
INSERT INTO tasks (task_id, in_queue_mills, task_status) VALUES ('old-finished', 1, 'finished');
INSERT INTO tasks (task_id, in_queue_mills, task_status) VALUES ('old-running', 2, 'running');
PRAGMA user_version = 2;
"""


def test_a_schema_2_file_is_migrated_to_3_and_its_rows_get_node_empty(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as database:
        database.executescript(SCHEMA_2)
    database.close()

    store = SQLiteHistory(path)
    store.close()

    with sqlite3.connect(path) as database:
        version = database.execute("PRAGMA user_version").fetchone()[0]
        nodes = dict(database.execute("SELECT task_id, node FROM tasks"))
    database.close()
    assert version == 3
    assert nodes == {"old-finished": "", "old-running": ""}
    assert store.get("old-running")["task_status"] == "interrupted"


def test_a_named_node_leaves_the_unnamed_rows_of_a_migrated_file_alone(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as database:
        database.executescript(SCHEMA_2)
    database.close()

    store = SQLiteHistory(path, node="node-a")
    store.close()

    assert store.get("old-running")["task_status"] == "running"


def test_a_file_of_a_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as database:
        database.execute("PRAGMA user_version = 4")
    database.close()

    with pytest.raises(HistoryUnavailable, match="schema version 4"):
        SQLiteHistory(path)


# -- PostgreSQL URLs ------------------------------------------------------------------------

@pytest.mark.parametrize("url, shown", [
    ("postgresql://fooocus:s3cret@127.0.0.1:5432/history",
     "postgresql://fooocus:***@127.0.0.1:5432/history"),
    ("postgresql://fooocus@127.0.0.1:5432/history?password=s3cret&sslmode=disable",
     "postgresql://fooocus@127.0.0.1:5432/history?password=***&sslmode=disable"),
    ("postgresql://fooocus@127.0.0.1:5432/history", "postgresql://fooocus@127.0.0.1:5432/history"),
])
def test_a_database_url_is_shown_without_its_password(url: str, shown: str):
    assert redacted(url) == shown


def test_an_unreachable_server_is_history_unavailable_naming_the_url(tmp_path: Path):
    closed_port = free_port()
    url = f"postgresql://fooocus:s3cret@127.0.0.1:{closed_port}/history"

    with pytest.raises(HistoryUnavailable) as raised:
        open_history(tmp_path / "db.sqlite3", "", url)

    assert f"postgresql://fooocus:***@127.0.0.1:{closed_port}/history" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_database_gone_at_run_time_is_history_unavailable_and_saves_still_end(postgres):
    url = postgres.new_database()
    store = open_history(Path("unused.sqlite3"), "", url)
    task = record("finished")
    added(store, task)
    postgres.drop_database(url)

    try:
        with pytest.raises(HistoryUnavailable, match="cannot be read"):
            store.page(10, 0)
        with pytest.raises(HistoryUnavailable):
            store.delete_between(0, task["in_queue_mills"])
        assert store.save({**task, "task_status": "failed"}).wait(30)
    finally:
        store.close()


def test_after_the_server_restarts_reads_and_writes_work_again(postgres):
    store = open_history(Path("unused.sqlite3"), "", postgres.new_database())
    before, after = record("finished"), record("finished")
    added(store, before)

    try:
        postgres.restart()
        assert store.get(before["task_id"])["task_id"] == before["task_id"]
        added(store, after)
        assert store.get(after["task_id"])["task_id"] == after["task_id"]
    finally:
        store.close()


@pytest.mark.parametrize("url", ["mysql://fooocus@127.0.0.1:3306/history",
                                 "postgresql://[127.0.0.1/history", "127.0.0.1:5432"])
def test_a_url_that_is_not_postgresql_is_history_unavailable(tmp_path: Path, url: str):
    with pytest.raises(HistoryUnavailable, match="is not a postgresql://"):
        open_history(tmp_path / "db.sqlite3", "", url)


def test_without_psycopg_the_error_says_what_to_install(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail

    with pytest.raises(HistoryUnavailable, match="requirements-cluster.txt"):
        open_history(tmp_path / "db.sqlite3", "", "postgresql://fooocus@127.0.0.1:5432/history")
