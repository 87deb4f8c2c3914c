"""``serve``: fetch the model's code when it is not in the model, then start the model server.

With network isolation the scoring source archive is repacked into the model
(``/opt/ml/model/code``). Without it, ``SAGEMAKER_SUBMIT_DIRECTORY`` names the archive in S3:
it is downloaded and extracted there first, as the scikit-learn framework container does.
"""

from __future__ import annotations

import io
import os
import tarfile

CODE_DIR = "/opt/ml/model/code"
HANDLER_SERVICE = "nlpops_serving.handler_service"


def fetch_submit_directory(environ: dict[str, str] | None = None, code_dir: str = CODE_DIR) -> bool:
    """Extract ``SAGEMAKER_SUBMIT_DIRECTORY`` (an ``s3://…tar.gz``) into ``code_dir`` unless code is there."""
    env = dict(os.environ if environ is None else environ)
    submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if not submit.startswith("s3://") or os.path.isdir(code_dir):
        return False
    import boto3

    bucket, _, key = submit[len("s3://") :].partition("/")
    body = boto3.client("s3", region_name=env.get("SAGEMAKER_REGION") or None).get_object(Bucket=bucket, Key=key)
    with tarfile.open(fileobj=io.BytesIO(body["Body"].read()), mode="r:gz") as tar:
        tar.extractall(code_dir, filter="data")
    return True


def main() -> None:
    from sagemaker_inference import model_server

    fetch_submit_directory()
    model_server.start_model_server(handler_service=HANDLER_SERVICE)


if __name__ == "__main__":
    main()
