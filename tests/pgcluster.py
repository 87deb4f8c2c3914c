"""A throwaway PostgreSQL cluster on loopback for tests and benchmarks (Debian's ``postgresql``).

:func:`ensure_postgres` finds the server binaries and, when they are missing and we are
root with apt-get (CI, a fresh machine), installs Debian's ``postgresql`` package first —
the same thing ``make pg-deps`` does. :class:`PgCluster` runs ``initdb`` + ``pg_ctl`` in a
fresh temporary directory, listening on 127.0.0.1 only, with a password (scram) for TCP; as
root it runs the server as the ``postgres`` user the package creates (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries and no way to install them here."""


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def ensure_postgres() -> Path:
    """The directory of ``initdb``/``pg_ctl``, installing Debian's ``postgresql`` if needed and possible."""
    bindir = _bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) are missing and this is not root with apt-get: "
            "install Debian's postgresql package (make pg-deps as root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=600"]  # another apt-get (make browser-deps) may hold the lock
    subprocess.run(["apt-get", *lock, "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", *lock, "install", "-y", "-qq", "postgresql"], check=True, env=env)
    bindir = _bindir()
    if bindir is None:
        raise PostgresUnavailable("apt-get installed postgresql but no pg_ctl is under /usr/lib/postgresql/*/bin")
    return bindir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """``with PgCluster() as pg: pg.dsn`` — a private server, removed on exit."""

    user = "nlpops"
    database = "nlpops"

    def __init__(self, password: str = "nlpops-test-password") -> None:
        self.password = password
        self.port = _free_port()
        self.bindir = ensure_postgres()
        self.root = Path(tempfile.mkdtemp(prefix="nlpops-pg-"))
        self.data = self.root / "data"
        self.as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    @property
    def airflow_conn(self) -> str:
        """The ``AIRFLOW_CONN_<ID>`` value of this server (a Postgres provider connection)."""
        return f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *cmd: str) -> None:
        argv = [str(self.bindir / cmd[0]), *cmd[1:]]
        if self.as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")

    def __enter__(self) -> PgCluster:
        (self.root / "pw").write_text(self.password + "\n", encoding="utf-8")
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.root / "pw", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", self.user, "--pwfile", str(self.root / "pw"),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {self.database}")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
