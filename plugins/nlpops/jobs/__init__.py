"""Local stand-ins for remote jobs: a supervised subprocess in its own session (Glue, SageMaker locally)."""
