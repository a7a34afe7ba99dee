"""``fashionlab serve`` as a child process for the service benchmarks (bench/bench_serve_load.py): started on
127.0.0.1 with port 0, its port read from the line it prints, its memory read from /proc, stopped gracefully."""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"
URL_LINE = re.compile(r"fashionlab studio: http://127\.0\.0\.1:(\d+)/")


class Server:
    """``fashionlab serve`` as a child process on 127.0.0.1: its port (parsed from the line it prints), its
    pid (for memory readings) and the tail of its output (for error reports; all of it goes to ``log_path``)."""

    def __init__(self, args: argparse.Namespace, work_dir: Path, log_path: Path):
        self.log_path = log_path
        self.tail: collections.deque[str] = collections.deque(maxlen=60)
        self.port: int | None = None
        self._ready = threading.Event()
        exe = Path(sys.executable).with_name("fashionlab")
        command = [str(exe)] if exe.is_file() else [sys.executable, "-m", "fashionlab"]
        command += ["serve", "--host", HOST, "--port", "0", "--demo-catalog-items", str(args.catalog_items)]
        command += ["--work-dir", str(work_dir), "--log-level", args.server_log_level]
        if args.workers is not None:
            command += ["--workers", str(args.workers)]
        if args.queue is not None:
            command += ["--queue", str(args.queue)]
        self.command = command
        env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, text=True
        )
        self._reader = threading.Thread(target=self._read, name="server-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        with self.log_path.open("w") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.tail.append(line.rstrip())
                found = URL_LINE.search(line)
                if found and self.port is None:
                    self.port = int(found.group(1))
                    self._ready.set()
        self._ready.set()  # the process ended (its output closed)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_listening(self, timeout_s: float) -> None:
        """Until the service printed its URL and ``/v1/health`` answers ok, or RuntimeError."""
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"the service printed no URL within {timeout_s:g} s")
        if self.port is None:
            try:
                code = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                code = None
            raise RuntimeError(f"the service closed its output without printing its URL (exit code {code})")
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=self.base_url, timeout=5, trust_env=False) as c:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the service exited with code {self.proc.returncode}")
                try:
                    if c.get("/v1/health").json().get("status") == "ok":
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise RuntimeError("the service printed its URL but /v1/health did not answer ok within 60 s")

    def _status_mib(self, key: str) -> float | None:
        """A ``kB`` line of the server's ``/proc/PID/status`` in MiB, or None where there is none."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) / 1024
        except (OSError, ValueError):
            return None
        return None

    def rss_mib(self) -> float | None:
        """The server's resident memory now (VmRSS; psutil where there is no /proc), MiB, or None."""
        rss = self._status_mib("VmRSS")
        if rss is None:
            try:
                import psutil  # optional, not a dependency

                rss = psutil.Process(self.proc.pid).memory_info().rss / 2**20
            except Exception:  # noqa: BLE001 - not installed, or the process is gone
                return None
        return rss

    def peak_rss_mib(self) -> float | None:
        """The server's peak resident memory so far (VmHWM), MiB, or None."""
        return self._status_mib("VmHWM")

    def stop(self, grace_s: float) -> int | None:
        """SIGINT (uvicorn's graceful stop), then SIGKILL after ``grace_s``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode
