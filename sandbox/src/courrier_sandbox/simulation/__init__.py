"""What happens after SES accepts a message: the mailbox simulator, the mailbox, the copies
that reach recipients, and the feedback SES publishes."""
