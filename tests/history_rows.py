"""The rows a test server's history holds, read straight from SQLite or PostgreSQL."""
from __future__ import annotations

import json
import sqlite3
import uuid
from urllib.parse import urlsplit

from fooocus_server import FooocusServer

DATABASE_FLAG = "--api-database-url"


def database_url(server: FooocusServer) -> str | None:
    """The server's --api-database-url, or None when it keeps history in SQLite."""
    if DATABASE_FLAG not in server.flags:
        return None
    return server.flags[server.flags.index(DATABASE_FLAG) + 1]


def stored_rows(server: FooocusServer, where: str = "", parameters: tuple = ()) -> list[dict]:
    """`SELECT * FROM tasks {where}`; `where` uses `?` placeholders for either database."""
    url = database_url(server)
    if url is None:
        return _sqlite_rows(server, where, parameters)
    return _postgres_rows(url, where, parameters)


def _sqlite_rows(server: FooocusServer, where: str, parameters: tuple) -> list[dict]:
    with sqlite3.connect(server.checkout / "outputs" / "db.sqlite3", timeout=10) as database:
        database.row_factory = sqlite3.Row
        found = database.execute(f"SELECT * FROM tasks {where}", parameters).fetchall()
    database.close()
    return [dict(row) for row in found]


def _postgres_rows(url: str, where: str, parameters: tuple) -> list[dict]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as connection:
        return connection.execute(f"SELECT * FROM tasks {where.replace('?', '%s')}",
                                  parameters).fetchall()


def insert_rows(server: FooocusServer, rows: list[dict]) -> None:
    """Write rows (as `stored_rows` returns them, without `id`) straight into the database."""
    columns = list(rows[0])
    values = [tuple(row[column] for column in columns) for row in rows]
    url = database_url(server)
    if url is None:
        with sqlite3.connect(server.checkout / "outputs" / "db.sqlite3", timeout=10) as database:
            database.executemany(f"INSERT INTO tasks ({', '.join(columns)}) VALUES "
                                 f"({', '.join('?' * len(columns))})", values)
        database.close()
        return
    import psycopg

    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO tasks ({', '.join(columns)}) VALUES "
                           f"({', '.join(['%s'] * len(columns))})", values)


def copies_of(server: FooocusServer, record: dict, count: int, queued_from: int) -> list[str]:
    """`count` copies of a finished task's row, queued a millisecond apart from
    `queued_from`, each with an image file of its own beside the task's first (on
    `server`, which made it); the copies' image URLs, as the record has them."""
    row = stored_rows(server, "WHERE task_id = ?", (record["task_id"],))[0]
    stored_url = json.loads(row["result"])[0]
    image = server.checkout / "outputs" / urlsplit(stored_url).path.removeprefix("/outputs/")
    copies, urls = [], []
    for number in range(count):
        name = f"copy-{uuid.uuid4().hex}.png"
        (image.parent / name).write_bytes(image.read_bytes())
        urls.append(stored_url.rsplit("/", 1)[0] + "/" + name)
        copies.append({**{key: value for key, value in row.items() if key != "id"},
                       "task_id": uuid.uuid4().hex, "in_queue_mills": queued_from + number,
                       "result": json.dumps([urls[-1]])})
    insert_rows(server, copies)
    return urls
