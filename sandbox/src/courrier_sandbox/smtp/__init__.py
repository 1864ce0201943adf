"""SES's SMTP interface: ``--smtp-port`` (STARTTLS) and ``--smtps-port`` (implicit TLS)."""

from courrier_sandbox.smtp.credentials import smtp_password
from courrier_sandbox.smtp.server import SmtpInterface, SmtpOptions

__all__ = ["SmtpInterface", "SmtpOptions", "smtp_password"]
