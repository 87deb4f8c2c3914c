"""Model selection on aws: the train task submits a SageMaker tuning job over ml/search.py's space.

moto + the training player + the tuning player: the tuning job's training jobs really run the
uploaded ``train.py``, and the best one is chosen from their logs with the job's metric
definitions — the regexes must match what ``ml/train.py`` prints.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws.test_sagemaker_training import context, make_operator, sm  # noqa: F401 - the fixture

pytestmark = pytest.mark.aws


def training_request(**overrides: Any) -> dict[str, Any]:
    from nlpops.aws.sagemaker_config import training_job_config

    args: dict[str, Any] = {
        "job_name": "nlpops-x-train-20261123-abcdef12",
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/nlpops-sagemaker:test",
        "role_arn": "arn:aws:iam::123456789012:role/nlpops-sagemaker-execution",
        "region": "us-east-1",
        "submit_directory": "s3://a/sourcedir.tar.gz",
        "hyperparameters": {"classifier": "logreg", "C": 2.0, "search_budget_seconds": 300, "profile": "x"},
        "channels": {"train": "s3://l/train", "validation": "s3://l/validation", "test": "s3://l/test"},
        "output_path": "s3://l/models/x",
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k",
        "instance_type": "ml.m5.large",
    }
    return training_job_config(**(args | overrides))


def test_tuning_request_is_valid_and_searches_the_local_space(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    from players.base import validate_params

    from ml.search import sagemaker_ranges
    from ml.train import emit_metric
    from nlpops.aws.tuning import tuning_job_config, tuning_job_name

    name = tuning_job_name("amazon_polarity_train", "train", "20261123T020000")
    assert len(name) <= 32 and name == tuning_job_name("amazon_polarity_train", "train", "20261123T020000")
    assert tuning_job_name("amazon_polarity_train", "train", "20261123T020000", attempt=2).endswith("-a2")
    request = tuning_job_config(
        training_request(), job_name=name, primary_metric="macro_f1", budget_seconds=60, max_jobs=18, max_parallel=2
    )
    assert validate_params("sagemaker", "CreateHyperParameterTuningJob", request) == ""
    config = request["HyperParameterTuningJobConfig"]
    assert config["ParameterRanges"] == sagemaker_ranges()
    assert config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 18,
        "MaxParallelTrainingJobs": 2,
        "MaxRuntimeInSeconds": 120,
    }
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:macro_f1"}
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert "classifier" not in static and "C" not in static  # tuned
    assert json.loads(static["search_budget_seconds"]) == "0"  # each training job trains one configuration
    # the objective's regex reads what ml/train.py prints
    emit_metric("validation", "macro_f1", 0.8123456)
    line = capsys.readouterr().out
    definitions = {
        m["Name"]: m["Regex"] for m in request["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    }
    assert float(re.search(definitions["validation:macro_f1"], line).group(1)) == pytest.approx(0.812346)
    with pytest.raises(ValueError, match="longer than 32"):
        tuning_job_config(
            training_request(),
            job_name="x" * 33,
            primary_metric="macro_f1",
            budget_seconds=60,
            max_jobs=2,
            max_parallel=1,
        )


def test_train_task_on_aws_submits_a_tuning_job_and_returns_its_best_model(sm, monkeypatch) -> None:  # noqa: F811
    from players.sagemaker_tuning import SageMakerTuningPlayer

    from include import lake
    from include.settings import get_settings, load_settings
    from ml.artefact import read_meta, unpack_model_archive
    from nlpops.aws.tuning import SageMakerScriptModeTuningOperator

    monkeypatch.setenv("NLPOPS_SEARCH_BUDGET_SECONDS", "600")
    get_settings.cache_clear()
    settings = load_settings()
    tuner = SageMakerTuningPlayer(sm.player.harness, sm.player, jobs=2)
    tuner.install()
    try:
        op = make_operator(settings, search_budget_seconds=600, min_df=1)
        assert isinstance(op, SageMakerScriptModeTuningOperator)
        op.deferrable = False  # wait in the task
        result = op.execute(context())
        [request] = sm.recorder.params("sagemaker", "CreateHyperParameterTuningJob")
        sm.recorder.assert_valid()
        name = request["HyperParameterTuningJobName"]
        assert len(name) <= 32
        played = tuner.jobs[name]
        best = played.info["best"]
        assert len(played.info["training_jobs"]) == 2 and best in played.info["training_jobs"]
        assert result["Tuning"]["BestTrainingJob"] == best
        assert result["job_name"] == best and result["model_artifact_uri"].endswith(f"/{best}/output/model.tar.gz")
        assert result["test_channel_uri"] == f"{settings.zone_uri('models', 'amazon_polarity')}/{name}/input/data/test"
        selection = result["metrics"]["selection"]
        assert selection["best_training_job"] == best
        assert selection["cv_mean"] == pytest.approx(played.info["objectives"][best])
        assert selection["winner"]["classifier"] in {"logreg", "linear_svm", "sgd", "nblr"}
        # the best job's model is what the evaluate task will read
        model_dir = unpack_model_archive(
            lake.read_bytes(result["model_artifact_uri"]), sm.player.harness.tmp_path / "m"
        )
        assert read_meta(model_dir)["hyperparameters"]["classifier"] == selection["winner"]["classifier"]
        # a retry after success reuses the tuning job: no second one
        again = make_operator(settings, search_budget_seconds=600, min_df=1)
        again.deferrable = False
        assert again.execute(context())["model_artifact_uri"] == result["model_artifact_uri"]
        assert len(sm.recorder.params("sagemaker", "CreateHyperParameterTuningJob")) == 1
    finally:
        tuner.wait_all(300)
        tuner.uninstall()
        get_settings.cache_clear()
