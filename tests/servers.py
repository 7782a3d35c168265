"""Real servers the tests (and ``config/deploy/local-cluster.sh``) start: PostgreSQL and an
S3-compatible object store (moto's server mode), each a process of its own in a temporary
folder, on a free loopback port.

PostgreSQL's binaries come from the ``pgserver`` wheel (installed by ``make test``), or
from the system (``initdb`` on PATH or ``/usr/lib/postgresql/*/bin``). PostgreSQL refuses
to run as root, and CI runs as root: then the server runs as the unprivileged ``nobody``
user, in a folder handed to that user.

``python -m tests.servers postgres|s3 DIR`` starts one in the foreground and prints its URL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNPRIVILEGED_USER = "nobody"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin() -> Path | None:
    """The folder holding initdb and postgres, or None when neither the wheel nor the system has them."""
    import importlib.util

    # Located, not imported: importing pgserver sets up run-time folders we do not use.
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "initdb").is_file():
            return candidate
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").is_file():
            return Path(folder)
    return None


# An empty environment apart from the locale: a user's PG* variables must not leak in.
_SERVER_ENV = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "LANG": "C"}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    folder: Path
    log: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server the way an admin does (SIGINT: PostgreSQL's fast shutdown), keeping its
        data for ``restart``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(20)

    def restart(self) -> None:
        """Start the server again on the same data, port and user (halting it first if it runs):
        what a database upgrade or a reboot looks like to its clients."""
        self.halt()
        args, user = self.process.args, self.extra.get("user") or None
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, user=user, env=_SERVER_ENV, cwd=self.folder,
                start_new_session=True,
            )
        _connect_when_up(int(self.extra["port"]), self.process, self.log, timeout_s=60).close()


def _connect_when_up(port: int, process: subprocess.Popen[bytes], log: Path, *, timeout_s: float) -> Any:
    """An autocommit connection to the ``postgres`` database once the server accepts one; the
    server is killed and its log's end raised when it exits or ``timeout_s`` passes first."""
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return psycopg.connect(f"host=127.0.0.1 port={port} user=tidings dbname=postgres", autocommit=True)
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"PostgreSQL did not start: {log.read_text(errors='replace')[-2000:]}") from None
            time.sleep(0.2)


def _as_user() -> tuple[str | None, str]:
    """(user to run as, why) - None when we are not root."""
    if os.geteuid() != 0:
        return None, ""
    import pwd

    try:
        pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        return None, f"running as root and there is no {UNPRIVILEGED_USER!r} user to run PostgreSQL as"
    return UNPRIVILEGED_USER, ""


def start_postgres(database: str = "tidings", *, timeout_s: float = 60, durable: bool = False) -> Server:
    """initdb + postgres in a fresh temporary folder; the URL has no password (trust auth on
    loopback). Not ``durable`` (the tests): no fsync, as nothing outlives the session."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("no PostgreSQL server binaries: pip install pgserver (make test does), or install postgresql")
    user, why = _as_user()
    if why:
        raise RuntimeError(why)
    folder = Path(tempfile.mkdtemp(prefix="tidings-pg-"))
    data = folder / "data"
    log = folder / "postgres.log"
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [str(binaries / "initdb"), "-D", str(data), "-U", "tidings", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        user=user,
        env=_SERVER_ENV,
        cwd=folder,
    )
    port = free_port()
    with open(log, "wb") as out:
        fast = [] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        process = subprocess.Popen(
            [
                str(binaries / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder),
                *fast, "-c", "max_connections=200", "-c", "shared_buffers=32MB",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            user=user,
            env=_SERVER_ENV,
            cwd=folder,
            start_new_session=True,
        )
    with _connect_when_up(port, process, log, timeout_s=timeout_s) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    return Server(
        f"postgresql://tidings@127.0.0.1:{port}/{database}", process, folder, log, {"port": str(port), "user": user or ""}
    )


def create_database(server_url: str, name: str) -> str:
    """A fresh database on the server of ``server_url``; its URL."""
    import psycopg

    base, _, _ = server_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def start_s3(*, timeout_s: float = 60) -> Server:
    """``moto_server`` on loopback: an S3-compatible endpoint (AWS_ENDPOINT_URL) with any credentials."""
    folder = Path(tempfile.mkdtemp(prefix="tidings-s3-"))
    log = folder / "moto.log"
    port = free_port()
    executable = Path(sys.executable).parent / "moto_server"
    command = [str(executable)] if executable.is_file() else [sys.executable, "-m", "moto.server"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"moto_server did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return Server(endpoint, process, folder, log)


def s3_environment(endpoint: str) -> dict[str, str]:
    """The standard AWS variables that point boto3 and LanceDB at the local server."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    client.create_bucket(Bucket=name)


def start_model_server(model_path: Path, *, n_ctx: int = 2048, timeout_s: float = 120) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m llama_cpp.server`` with ``model_path`` on a free loopback port; returns the
    process and its OpenAI-compatible base URL (``.../v1``) once it answers."""
    import urllib.request

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/v1/models", timeout=2):
                return process, f"{base}/v1"
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"llama_cpp.server did not start within {timeout_s:.0f} s")


def _serve(kind: str) -> None:
    """Run one server until SIGTERM or SIGINT, then stop it (and its folder) cleanly."""
    import signal

    def interrupt(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Background jobs of a non-interactive shell start with SIGINT ignored: take both back.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    server = start_postgres() if kind == "postgres" else start_s3()
    try:
        print(server.url, flush=True)
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover - used by config/deploy/local-cluster.sh
    _serve(sys.argv[1] if len(sys.argv) > 1 else "postgres")
