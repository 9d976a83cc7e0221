"""Privacy core of the touchpoint ingestion service (the Lambda layer's package)."""
