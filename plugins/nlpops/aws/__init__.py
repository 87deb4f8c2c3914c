"""The aws target: provider operators made idempotent, S3 lake setup (imported only by the factory's aws branch)."""
