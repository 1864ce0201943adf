"""The sandbox's own errors: it depends on no part of courrier's client."""

from __future__ import annotations

__all__ = ["SandboxError"]


class SandboxError(Exception):
    """The sandbox could not start or serve: a port in use, a bad option, a broken state file."""
