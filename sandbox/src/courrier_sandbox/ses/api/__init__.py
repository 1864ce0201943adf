"""SES actions of both APIs, one module per concept; each registers with both wire adapters."""
