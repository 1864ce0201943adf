"""Provisioning: create (setup), check (doctor) and remove (teardown) the feedback pipeline."""

from courrier.provisioning.aws import Aws
from courrier.provisioning.doctor import Check, DoctorTarget, doctor
from courrier.provisioning.setup import Change, SetupReport, setup
from courrier.provisioning.teardown import teardown

__all__ = ["Aws", "Change", "Check", "DoctorTarget", "SetupReport", "doctor", "setup", "teardown"]
