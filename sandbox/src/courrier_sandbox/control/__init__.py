"""The sandbox's own routes under ``/_courrier/``: mailbox, account, throttles, reset, pages."""
