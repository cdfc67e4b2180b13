"""A throwaway PostgreSQL cluster for the test session, and databases in it for each test.

``postgres_url`` runs ``initdb`` and ``pg_ctl`` (as the ``postgres`` OS user when the tests run as root, since
PostgreSQL refuses to run as root) into a fresh directory, listening on 127.0.0.1 only, on a free port, with
durability off for speed. ``fresh_postgres_url`` gives each test an empty database of its own, and ``hub_db_url``
runs a storage test once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from tests.services.mosquitto import HOST, START_ATTEMPTS, free_port

PG_VERSIONS = ("17", "16", "15")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30
OS_USER = "postgres"
"""Who runs the cluster when the tests run as root."""
SUPERUSER = "postgres"
APP_USER = "gridpass"
APP_DB = "gridpass"
SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def _bin_dir() -> Path:
    if configured := os.environ.get("GRIDPASS_PG_BIN"):
        candidates = [Path(configured)]
    else:
        candidates = [Path(f"/usr/lib/postgresql/{version}/bin") for version in PG_VERSIONS]
        if on_path := shutil.which("pg_ctl"):
            candidates.append(Path(on_path).parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    pytest.fail(
        f"PostgreSQL binaries (initdb, pg_ctl) not found in {[str(c) for c in candidates]}: "
        "run ./scripts/test, which installs them (or set GRIDPASS_PG_BIN)",
        pytrace=False,
    )


@dataclass
class PostgresCluster:
    """A running cluster in ``directory``: data, Unix socket and log."""

    bin_dir: Path
    directory: Path
    port: int
    password: str

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "sock"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, database: str = APP_DB) -> str:
        """The SQLAlchemy URL of the application role on ``database`` over TCP."""
        return f"postgresql+psycopg://{APP_USER}:{self.password}@{HOST}:{self.port}/{database}"

    def run(self, *args: str, timeout_s: float = START_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool as the cluster's OS user."""
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)

    def superuser(self) -> psycopg.Connection[TupleRow]:
        """An autocommit superuser connection over the Unix socket (trusted there)."""
        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def log(self) -> str:
        """The server log."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> subprocess.CompletedProcess[str]:
        """``pg_ctl start -w``; the completed process tells whether it came up."""
        options = " ".join(f"-c {key}={value}" for key, value in {**SETTINGS, "port": str(self.port)}.items())
        return self.run(
            "pg_ctl", "start", "-w", "-t", str(START_TIMEOUT_S), "-D", str(self.data_dir),
            "-l", str(self.log_file), "-o", f"{options} -k {self.socket_dir}",
        )  # fmt: skip

    def stop(self) -> None:
        """``pg_ctl stop -m fast``."""
        self.run("pg_ctl", "stop", "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_S), "-D", str(self.data_dir))


def _init_cluster(bin_dir: Path, directory: Path) -> PostgresCluster:
    cluster = PostgresCluster(bin_dir, directory, 0, secrets.token_urlsafe(16))
    cluster.socket_dir.mkdir()
    superuser_password = directory / "superuser-password"
    superuser_password.write_text(secrets.token_urlsafe(16))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(OS_USER)
        except KeyError:
            pytest.fail(f"no {OS_USER!r} OS user to run PostgreSQL as: run ./scripts/test, which installs it")
        for path in (directory, cluster.socket_dir, superuser_password):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    initdb = cluster.run(
        "initdb", "-D", str(cluster.data_dir), "-U", SUPERUSER, "--no-sync", "-E", "UTF8", "--no-locale",
        "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={superuser_password}",
    )  # fmt: skip
    if initdb.returncode != 0:
        pytest.fail(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}", pytrace=False)
    return cluster


def _start_cluster(cluster: PostgresCluster) -> None:
    for _ in range(START_ATTEMPTS):
        cluster.port = free_port()
        started = cluster.start()
        if started.returncode == 0:
            return
        if "Address already in use" not in cluster.log():
            break
    pytest.fail(
        f"PostgreSQL did not start:\n{started.stdout}\n{started.stderr}\n--- {cluster.log_file} ---\n{cluster.log()}",
        pytrace=False,
    )


@contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """A running throwaway cluster with the application role and database; stopped and removed afterwards.

    Usable outside pytest too (benchmarks); a cluster that cannot start raises pytest's ``Failed``.
    """
    bin_dir = _bin_dir()
    # Not under pytest's tmp dir: that is private to root, and the server runs as the postgres user.
    directory = Path(tempfile.mkdtemp(prefix="gridpass-pg-"))
    try:
        cluster = _init_cluster(bin_dir, directory)
        _start_cluster(cluster)
        try:
            with cluster.superuser() as conn:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(APP_USER), sql.Literal(cluster.password)
                    )
                )
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(APP_DB), sql.Identifier(APP_USER))
                )
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running throwaway cluster with the application role and database; stopped and removed afterwards."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """``postgresql+psycopg://...`` of the session's database (shared by the tests that use it)."""
    return postgres_cluster.url()


@pytest.fixture
def fresh_postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """An empty database of this test's own in the session's cluster, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with postgres_cluster.superuser() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_USER)))
    try:
        yield postgres_cluster.url(name)
    finally:
        with postgres_cluster.superuser() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLAlchemy URL of an empty hub database: the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url
