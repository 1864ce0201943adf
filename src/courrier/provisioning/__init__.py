"""Provisioning: create (setup), check (doctor) and remove (teardown) the feedback pipeline."""

from courrier.provisioning.aws import Aws
from courrier.provisioning.checks import (
    Check,
    CheckStatus,
    DoctorExit,
    DoctorReport,
    DoctorTarget,
)
from courrier.provisioning.doctor import doctor
from courrier.provisioning.setup import Action, Change, SetupReport, setup
from courrier.provisioning.teardown import teardown
from courrier.settings import Route

__all__ = [
    "Action",
    "Aws",
    "Change",
    "Check",
    "CheckStatus",
    "DoctorExit",
    "DoctorReport",
    "DoctorTarget",
    "Route",
    "SetupReport",
    "doctor",
    "setup",
    "teardown",
]
