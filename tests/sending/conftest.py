"""The Mailer fixtures of test_mailer.py, for every sending test."""

from tests.sending.test_mailer import mailer, ses, silent_server, sleeps

__all__ = ["mailer", "ses", "silent_server", "sleeps"]
