"""The sandbox's SES: identities, configuration sets, templates, contacts, the account and
sending, shared by the two wire protocols in :mod:`courrier_sandbox.ses.wire`."""
