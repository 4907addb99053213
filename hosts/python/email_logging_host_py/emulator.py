"""The standalone Graph + Entra + EWS emulator (`email-logging-host emulator`) as a child process.

The binary is `EMAIL_LOGGING_HOST_BIN`, else the workspace's release build,
else its debug build. It listens on a free loopback port; `Emulator.base`
is its base URL (`http://127.0.0.1:PORT`).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from .runtime import repo_root

#: The emulator's demo app registration (`graph_emulator::DEMO_*`).
DEMO_CLIENT_ID = "8f6c2d1e-0b5a-4c3e-9d7f-1a2b3c4d5e6f"
DEMO_CLIENT_SECRET = "demo~secret.Not-A-Real-One_0123456789"
DEMO_REDIRECT_URI = "http://localhost:8471/email-logging/callback"


def host_binary() -> Path:
    """The `email-logging-host` binary that serves the emulator."""
    env = os.environ.get("EMAIL_LOGGING_HOST_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", repo_root() / "target"))
    for profile in ("release", "debug"):
        candidate = target / profile / "email-logging-host"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        "no email-logging-host binary: set EMAIL_LOGGING_HOST_BIN or run `cargo build --release -p email-logging-host`"
    )


def free_port() -> int:
    """A free loopback TCP port (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator:
    """A running emulator; stop it with `stop()` or a `with` block."""

    def __init__(self, seed: Optional[Path] = None, extra_args: Optional[list[str]] = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._dir = tempfile.TemporaryDirectory(prefix="el-emulator-")
        args = [str(host_binary()), "emulator", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self._dir.name]
        if seed is not None:
            args += ["--seed", str(seed)]
        args += extra_args or []
        self._log = open(Path(self._dir.name) / "emulator.log", "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.proc.returncode}: {self.output()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("GET", "/common/v2.0/.well-known/openid-configuration")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("the emulator did not answer in time")

    def output(self) -> str:
        """What the emulator printed so far."""
        self._log.flush()
        return (Path(self._dir.name) / "emulator.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """Stops the emulator process (the one this object started) and removes its directory."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self._dir.cleanup()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
