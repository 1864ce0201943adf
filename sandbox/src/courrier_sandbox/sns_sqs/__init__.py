"""moto's SNS and SQS behind the sandbox, and the two hooks that change their behaviour."""
