"""A real server process (project/serve.py: uvicorn) serving the app on 127.0.0.1, with its own SQLite database."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "browser-pass-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, tmp: Path, env: dict[str, str], *, setup: bool = True) -> None:
        self.setup = setup
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SQLITE_PATH": str(tmp / "db.sqlite3"),
            "RUN_DIR": str(tmp / "run"),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CHAT_START_SERVICES_AT_IMPORT": "1",
            **env,
        }
        self.log = (tmp / "server.log").open("w")
        self.proc: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def start(self) -> "LiveServer":
        if self.setup:
            self.create_database_and_user()
        return self.run()

    def create_database_and_user(self) -> None:
        self.manage("migrate", "-v0")
        self.manage(
            "shell",
            "-v0",
            "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.create_user('tester', password='{PASSWORD}')",
        )

    def command(self) -> list[str]:
        """The production launcher (uvicorn), as `make run` and the Docker image start it."""
        return [sys.executable, "-m", "project.serve", "--host", "127.0.0.1"] + [
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def run(self) -> "LiveServer":
        """Start the process and wait (30 s at most) until its login page answers."""
        self.proc = subprocess.Popen(
            self.command(), env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/accounts/login/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.command()[2]} did not start; see {self.log.name}")

    def kill(self) -> None:
        """kill -9: no chance to save anything."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def halt(self) -> None:
        """Stop the process as a deploy would (SIGTERM), keeping port, database and log, so
        run() starts it again on the same address."""
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(15)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
