"""nlpops: the Airflow side (hooks, operators, sensors, triggers, notifiers) of the text-classification pipeline."""

# Tasks, sensors and triggers reach s3:// lake URIs with the Airflow AWS connection's
# credentials (cheap: registers a callable, imports neither fsspec nor the provider).
from nlpops.aws.session import install as _install_s3_credentials

_install_s3_credentials()


# The aws model registry (ml.registry.get_registry) builds its SageMaker client from the
# same connection (cheap: registers a callable; boto3 and the provider load on first use).
from nlpops.aws.registry import install as _install_registry_client  # noqa: E402

_install_registry_client()
