"""``--state PATH``: the sandbox's SES state and mailbox, kept across restarts as JSON."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from courrier.errors import SandboxError
from courrier.sandbox.ses_state import RegionState

if TYPE_CHECKING:
    from courrier.sandbox.mailbox import Mailbox
    from courrier.sandbox.ses_service import SesService

FORMAT_VERSION = 1


class StateFile:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

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
        with ses.lock:
            ses.regions.update(regions)
        mailbox.load(data.get("mailbox", []))

    def save(self, ses: SesService, mailbox: Mailbox) -> None:
        with ses.lock:
            regions = {f"{a}/{r}": state.to_json() for (a, r), state in ses.regions.items()}
        data = {"version": FORMAT_VERSION, "regions": regions, "mailbox": mailbox.to_json()}
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
