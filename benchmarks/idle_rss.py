"""Idle memory of `python -m bot serve`, run by hand.

    .venv/bin/python benchmarks/idle_rss.py              # one run
    .venv/bin/python benchmarks/idle_rss.py --runs 3     # three fresh servers, one after the other

Each run migrates a fresh SQLite database in a temporary directory (`python -m bot db upgrade`, with
DATA_DIR and DATABASE_URL pointing there), starts `python -m bot serve` in local mode (no app id) on
a free loopback port, waits until GET /readyz answers 200, then reads VmRSS (resident now) and VmHWM
(peak resident) from /proc/<pid>/status, and stops the server with SIGTERM. The server runs from the
temporary directory so no `.env` of the checkout is read.

Target (issue 14): VmRSS ≤ 120 MB. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 120.0
READY_TIMEOUT = 60.0
"""Seconds to wait for /readyz before giving up on a run."""

log = logging.getLogger("benchmarks.idle_rss")


@dataclass(frozen=True)
class Memory:
    """One server's memory once ready, in MB (1 MB = 1024 kB as /proc counts)."""

    rss: float
    hwm: float


def free_port() -> int:
    """A port nobody listens on now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_environment(data_dir: Path) -> dict[str, str]:
    """This environment without the bot's own settings, pointed at a SQLite database in `data_dir`."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MICROSOFT_APP", "DATABASE_", "DATA_DIR", "HOST", "PORT"))
    }
    environment["DATA_DIR"] = str(data_dir)
    environment["DATABASE_URL"] = f"sqlite+aiosqlite:///{data_dir / 'surveybot.db'}"
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    return environment


def status_mb(pid: int) -> Memory:
    """VmRSS and VmHWM of `pid` from /proc."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return Memory(rss=fields["VmRSS"], hwm=fields["VmHWM"])


def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    """Poll `url` until it answers 200; fail if the server exits or READY_TIMEOUT passes."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)  # polling a subprocess's readiness, not a test
    raise RuntimeError(f"{url} did not answer 200 within {READY_TIMEOUT:g} s")


def one_run(python: str) -> Memory:
    """Migrate a fresh database, serve it, measure once ready, stop."""
    with tempfile.TemporaryDirectory(prefix="idle-rss-") as folder:
        data_dir = Path(folder)
        environment = server_environment(data_dir)
        subprocess.run(
            [python, "-m", "bot", "db", "upgrade"],
            cwd=data_dir,
            env=environment,
            check=True,
            capture_output=True,
        )
        port = free_port()
        server = subprocess.Popen(
            [python, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=data_dir,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", server)
            return status_mb(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1, help="fresh servers to measure, one after the other")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs the bot")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    results: list[Memory] = []
    for run in range(1, args.runs + 1):
        memory = one_run(args.python)
        results.append(memory)
        log.info("run %d: VmRSS %.1f MB, VmHWM %.1f MB", run, memory.rss, memory.hwm)
    median = statistics.median(memory.rss for memory in results)
    log.info(
        "median VmRSS %.1f MB (target ≤ %.0f MB: %s), max VmHWM %.1f MB",
        median,
        TARGET_MB,
        "met" if median <= TARGET_MB else "not met",
        max(memory.hwm for memory in results),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
