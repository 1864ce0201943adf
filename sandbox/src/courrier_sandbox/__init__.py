"""courrier-sandbox: SES, SNS and SQS offline, on one port, for boto3 and the AWS CLI.

Start it in-process for tests and scripts::

    with Sandbox() as url:
        ses = boto3.client("sesv2", endpoint_url=url, region_name="us-east-1")

This package is a stand-in for AWS and never imports courrier's client side: it runs alone
(``pip install courrier-sandbox``, the ``courrier-sandbox`` command).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from types import TracebackType
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from courrier_sandbox.errors import SandboxError
from courrier_sandbox.latency import Latency
from courrier_sandbox.server import SandboxApp
from courrier_sandbox.ses.service import SesOptions
from courrier_sandbox.simulation.simulator import SimulatorOptions
from courrier_sandbox.smtp import SmtpInterface, SmtpOptions

__all__ = [
    "Latency",
    "Sandbox",
    "SandboxApp",
    "SandboxError",
    "SesOptions",
    "SimulatorOptions",
    "SmtpOptions",
    "__version__",
]

__version__ = "0.2.0"

log = logging.getLogger("courrier_sandbox.http")


class _LoggingHandler(WSGIRequestHandler):
    """Request lines go to the ``courrier_sandbox.http`` logger instead of stderr."""

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.ERROR if type == "error" else logging.DEBUG
        log.log(level, "%s %s", self.address_string(), message % args)


class Sandbox:
    """The sandbox on a background thread; ``url`` is set once it answers its health check.

    With ``smtp`` (ports given), SES's SMTP interface runs beside it and stops with it;
    :attr:`smtp` then says which ports it listens on and which keys it accepts.

    moto keeps SNS and SQS state per process, so run one sandbox per process.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        options: SesOptions | None = None,
        state_path: str | None = None,
        latency: Latency | None = None,
        smtp: SmtpOptions | None = None,
    ) -> None:
        self.app = SandboxApp(options or SesOptions(), state_path, latency=latency)
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._smtp_options = smtp
        self.smtp: SmtpInterface | None = None
        self.url = ""

    def start(self) -> str:
        try:
            self._server = make_server(
                self._host, self._port, self.app, threaded=True, request_handler=_LoggingHandler
            )
        except OSError as err:
            raise SandboxError(f"cannot listen on {self._host}:{self._port}: {err}") from err
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="courrier-sandbox",
            daemon=True,
        )
        self._thread.start()
        host = self._host if ":" not in self._host else f"[{self._host}]"
        self.url = f"http://{host}:{self._server.server_port}"
        wait_until_healthy(self.url)
        if self._smtp_options is not None and self._smtp_options.enabled:
            smtp = SmtpInterface(
                self.app.ses, self._smtp_options, host=self._host, endpoint=self.url
            )
            try:
                smtp.start()
            except SandboxError:
                self.stop()
                raise
            self.smtp = smtp
        return self.url

    def stop(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.app.close()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until all feedback of the sends so far has been published."""
        return self.app.ses.scheduler.drain(timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def wait_until_healthy(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_courrier/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SandboxError(f"the sandbox at {url} did not become healthy in {timeout} s")
        time.sleep(0.05)
