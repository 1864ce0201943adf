"""Which AWS account and region a request is about, as moto decides them."""

from __future__ import annotations

import os

#: The region of a request that names none (the sandbox's own pages without ``?region=``).
DEFAULT_REGION = "us-east-1"


def account_for(access_key: str) -> str:
    """The account an access key belongs to: ``MOTO_ACCOUNT_ID``, else moto's own mapping."""
    from moto.iam.models import get_account_id_from

    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    account: str = get_account_id_from(access_key)
    return account
