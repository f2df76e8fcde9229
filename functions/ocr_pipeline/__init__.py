"""Lambda code of the S3 drop-folder OCR pipeline.

Layers, one way only: ``handlers`` (thin Lambda entry points) → ``domain`` (pure logic that receives its
collaborators as arguments) → ``adapters`` (S3, Step Functions, Secrets Manager, the OCR HTTP API).
"""
