"""The rows a test server's history holds, read straight from SQLite or PostgreSQL."""
from __future__ import annotations

import sqlite3

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
