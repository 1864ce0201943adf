"""The only place courrier talks to boto3: clients, and botocore errors translated to ours.

Nothing outside this package imports botocore.
"""

from courrier.aws.clients import AwsConfig, client
from courrier.aws.errors import translate

__all__ = ["AwsConfig", "client", "translate"]
