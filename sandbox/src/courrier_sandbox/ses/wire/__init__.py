"""SES's two wire protocols: v1's query/XML (:mod:`.query`) and v2's REST-JSON (:mod:`.rest`),
both driven by botocore's service models (:mod:`.formats`)."""
