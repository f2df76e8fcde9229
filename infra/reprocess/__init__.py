"""``ocr-reprocess``: start the pipeline again for objects already in the bucket (AWS or local endpoint)."""
