"""A throwaway PostgreSQL server for the history tests.

`initdb` makes a cluster in a temporary folder; the server listens on 127.0.0.1
only, on a free port, with its unix socket in that folder, and trusts local
connections (it holds nothing but test data). PostgreSQL refuses to run as root,
so under root it runs as the `postgres` user the distribution's package creates.
The binaries are found on PATH or in Debian's /usr/lib/postgresql/VERSION/bin.

`.ci/run` installs PostgreSQL on a CI machine that lacks it. With CI=true a
server that cannot be started fails the tests; elsewhere they are skipped.
"""
from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fooocus_server import free_port

USER = "fooocus"
SERVICE_USER = "postgres"
START_TIMEOUT_SECONDS = 60
_databases = itertools.count(1)


class PostgresUnavailable(RuntimeError):
    pass


def find_bin_dir() -> Path:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0)
    if versions:
        return versions[-1].parent
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb) on PATH or in "
                              "/usr/lib/postgresql/*/bin; install the postgresql package")


@dataclass
class PostgresServer:
    folder: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"history_{os.getpid()}_{next(_databases)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database behind `url`, cutting off whoever is connected to it."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    def start(self) -> None:
        log = self.folder / "server.log"
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} "
                   f"-c unix_socket_directories={self.folder} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options,
                  "-t", str(START_TIMEOUT_SECONDS), "-w", "start")

    def restart(self) -> None:
        """Stop and start again on the same port: every connection is cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.start()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")

    def _run(self, program: str, *arguments: str) -> None:
        user = {} if self.run_as is None else {"user": self.run_as, "extra_groups": []}
        result = subprocess.run([str(self.bin_dir / program), *arguments], cwd=self.folder,
                                capture_output=True, text=True, **user)
        if result.returncode != 0:
            log = self.folder / "server.log"
            raise PostgresUnavailable(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}"
                + (f"\n{log.read_text(errors='replace')}" if log.exists() else ""))


def start_postgres() -> PostgresServer:
    """A running server; raises PostgresUnavailable saying why there is none."""
    bin_dir = find_bin_dir()
    run_as = _service_user() if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="fooocus-api-pg-"))
    if run_as is not None:
        os.chown(folder, pwd.getpwnam(run_as).pw_uid, pwd.getpwnam(run_as).pw_gid)
    server = PostgresServer(folder, free_port(), bin_dir, run_as)
    try:
        server.init()
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def _service_user() -> str:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise PostgresUnavailable(f"running as root, and there is no '{SERVICE_USER}' user to "
                                  "run PostgreSQL as (the postgresql package creates it)") from None
    return SERVICE_USER
