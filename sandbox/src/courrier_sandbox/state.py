"""``--state PATH``: the sandbox's SES state and mailbox, kept across restarts as JSON."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import ServiceException
from werkzeug.exceptions import HTTPException

from courrier_sandbox.errors import SandboxError
from courrier_sandbox.ses.state import RegionState
from courrier_sandbox.sns_sqs import state as moto_state

if TYPE_CHECKING:
    from courrier_sandbox.ses.service import SesService
    from courrier_sandbox.simulation.mailbox import Mailbox

FORMAT_VERSION = 1


class StateFile:
    """The state file, rewritten in the background after changes.

    Changes come in bursts (a send delivers to the mailbox several times), and each write is
    the whole file: :meth:`save_soon` coalesces them into one write per ``delay`` seconds;
    :meth:`close` writes what is pending.
    """

    def __init__(self, path: str | os.PathLike[str], *, delay: float = 0.2) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._delay = delay
        self._pending = threading.Event()
        self._closed = threading.Event()
        self._writer: threading.Thread | None = None
        self._source: tuple[SesService, Mailbox] | None = None

    def save_soon(self, ses: SesService, mailbox: Mailbox) -> None:
        self._source = (ses, mailbox)
        self._pending.set()
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_loop, name="sandbox-state", daemon=True
            )
            self._writer.start()

    def _write_loop(self) -> None:
        while True:
            self._pending.wait()
            self._closed.wait(self._delay)  # gathers a burst; returns at once on close
            self._pending.clear()
            if self._source is not None:
                self.save(*self._source)
            if self._closed.is_set():
                return

    def close(self) -> None:
        """Write what is pending and stop the writer."""
        self._closed.set()
        self._pending.set()  # wakes a writer that waits for a change
        if self._writer is not None:
            self._writer.join(timeout=10)

    def load(self, ses: SesService, mailbox: Mailbox) -> None:
        if not self.path.exists():
            return
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != FORMAT_VERSION:
                raise ValueError(f"unknown state format version {data.get('version')!r}")
            regions = {
                _region_key(key): RegionState.from_json(value)
                for key, value in data.get("regions", {}).items()
            }
        except (ValueError, KeyError, TypeError) as err:
            raise SandboxError(f"cannot read sandbox state {self.path}: {err}") from err
        try:
            moto_state.restore(data.get("aws", {}))
        except (KeyError, TypeError, ValueError, ServiceException, HTTPException) as err:
            raise SandboxError(f"cannot restore SNS/SQS from {self.path}: {err}") from err
        with ses.lock:
            ses.regions.update(regions)
        mailbox.load(data.get("mailbox", []))

    def save(self, ses: SesService, mailbox: Mailbox) -> None:
        with ses.lock:
            regions = {f"{a}/{r}": state.to_json() for (a, r), state in ses.regions.items()}
        data = {
            "version": FORMAT_VERSION,
            "regions": regions,
            "mailbox": mailbox.to_json(),
            "aws": moto_state.snapshot(),
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so that a crash never leaves half a file behind.
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".courrier-state-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)


def _region_key(key: str) -> tuple[str, str]:
    account, _, region = key.partition("/")
    if not region:
        raise ValueError(f"bad region key {key!r}")
    return account, region
