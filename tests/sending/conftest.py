"""The Mailer fixtures of test_mailer.py, for every sending test."""

from tests.sending.test_mailer import mailer, ses, sleeps

__all__ = ["mailer", "ses", "sleeps"]
