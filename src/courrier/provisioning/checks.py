"""What ``courrier doctor`` checks and what it reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

__all__ = ["Check", "CheckStatus", "DoctorExit", "DoctorReport", "DoctorTarget"]


class CheckStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    #: The check could not run (a read failed, or what it needs is missing); never ``ok``.
    UNKNOWN = "unknown"


class DoctorExit(IntEnum):
    """``courrier doctor``'s exit codes (2, bad settings, comes from the CLI)."""

    OK = 0  # every check ok or warning
    FAILED = 1  # at least one check failed
    UNKNOWN = 3  # none failed, but at least one could not run


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class DoctorTarget:
    identity: str
    topic_arn: str
    queue_url: str
    configuration_set: str | None  # None: identity notifications route
    sender: str | None = None


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[Check, ...]

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def __getitem__(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    @property
    def statuses(self) -> dict[str, CheckStatus]:
        return {c.name: c.status for c in self.checks}

    @property
    def worst(self) -> CheckStatus:
        """The most serious status of any check: failed, unknown, warning, then ok."""
        found = {c.status for c in self.checks}
        for status in (CheckStatus.FAILED, CheckStatus.UNKNOWN, CheckStatus.WARNING):
            if status in found:
                return status
        return CheckStatus.OK

    @property
    def exit_code(self) -> DoctorExit:
        found = {c.status for c in self.checks}
        if CheckStatus.FAILED in found:
            return DoctorExit.FAILED
        if CheckStatus.UNKNOWN in found:
            return DoctorExit.UNKNOWN
        return DoctorExit.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "checks": [c.as_dict() for c in self.checks],
            "exit_code": int(self.exit_code),
        }
