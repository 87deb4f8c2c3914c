"""Build the project's SageMaker image, push it to the stack's ECR repository, print the setting to use.

    make sagemaker-image [STACK=nlpops]        # needs docker and AWS credentials
    python scripts/sagemaker_image.py --repository-uri <uri> --dry-run

The image is ``docker/sagemaker/Dockerfile`` (training and serving of ``ml/`` with the worker's
pins). Its tag is the digest of what goes into it (the Dockerfile, its requirements and
toolkit pins, ``ml/``, the serving package): the same code gives the same tag, so a second
run pushes nothing and the repository's immutable tags never move. The repository is the
stack's ``SageMakerImageRepositoryUri`` output (include/infra/nlpops.yaml). The last line
printed is ``NLPOPS_SAGEMAKER_IMAGE_URI=<repository>:<tag>``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = "docker/sagemaker/Dockerfile"
#: What the Dockerfile copies into the image (the tag is their digest).
IMAGE_INPUTS = (DOCKERFILE, "docker/sagemaker/requirements.txt", "docker/sagemaker/toolkit.txt")
IMAGE_PACKAGES = ("ml", "docker/sagemaker/nlpops_serving")
REPOSITORY_OUTPUT = "SageMakerImageRepositoryUri"


class ImageError(RuntimeError):
    """The image cannot be built or pushed; the message says what to do."""


def image_files(root: Path = ROOT) -> list[Path]:
    """The files that go into the image, sorted (no caches)."""
    files = [root / name for name in IMAGE_INPUTS]
    for package in IMAGE_PACKAGES:
        files += [
            p
            for p in sorted((root / package).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
        ]
    return files


def image_tag(root: Path = ROOT) -> str:
    """``sha256`` of the image's inputs (names and bytes), 16 hex digits: the same code, the same tag."""
    digest = hashlib.sha256()
    for path in image_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def repository_uri(cloudformation: Any, stack: str) -> str:
    """The stack's ECR repository URI (its ``SageMakerImageRepositoryUri`` output)."""
    stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    if REPOSITORY_OUTPUT not in outputs:
        raise ImageError(
            f"stack {stack!r} has no {REPOSITORY_OUTPUT} output: update it from include/infra/nlpops.yaml first"
        )
    return str(outputs[REPOSITORY_OUTPUT])


def build_commands(uri: str, tag: str) -> list[list[str]]:
    """``docker build`` (project root as context) and ``docker push`` of ``uri:tag``."""
    image = f"{uri}:{tag}"
    return [
        ["docker", "build", "--platform", "linux/amd64", "-f", DOCKERFILE, "-t", image, "."],
        ["docker", "push", image],
    ]


def _run(cmd: Sequence[str], stdin: str | None = None) -> None:
    try:
        subprocess.run(list(cmd), cwd=ROOT, input=stdin, text=True, check=True)
    except FileNotFoundError:
        raise ImageError("docker is not installed or not on PATH: building the image needs it") from None
    except subprocess.CalledProcessError as exc:
        raise ImageError(f"{' '.join(cmd[:2])} failed with exit code {exc.returncode}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sagemaker_image", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="nlpops", help="the CloudFormation stack of include/infra/nlpops.yaml")
    parser.add_argument("--repository-uri", default="", help="push here instead of the stack's repository")
    parser.add_argument("--region", default="", help="default: NLPOPS_AWS_REGION")
    parser.add_argument("--dry-run", action="store_true", help="print the docker commands, run nothing")
    args = parser.parse_args(argv)

    tag = image_tag()
    uri = args.repository_uri
    if not uri or not args.dry_run:
        import boto3

        from include.settings import get_settings

        region = args.region or get_settings().aws_region
        if not uri:
            uri = repository_uri(boto3.client("cloudformation", region_name=region), args.stack)
    commands = build_commands(uri, tag)
    if args.dry_run:
        for cmd in commands:
            print(" ".join(cmd))
    else:
        ecr = boto3.client("ecr", region_name=region)
        repository = uri.split("/", 1)[1]
        try:
            ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
            pushed = True
        except ecr.exceptions.ImageNotFoundException:
            pushed = False
        if pushed:
            print(f"{uri}:{tag} is already in the repository: nothing to build", file=sys.stderr)
        else:
            auth = ecr.get_authorization_token()["authorizationData"][0]
            user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
            _run(["docker", "login", "--username", user, "--password-stdin", auth["proxyEndpoint"]], stdin=password)
            for cmd in commands:
                _run(cmd)
    print(f"NLPOPS_SAGEMAKER_IMAGE_URI={uri}:{tag}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ImageError as exc:
        print(f"sagemaker-image: {exc}", file=sys.stderr)
        sys.exit(1)
