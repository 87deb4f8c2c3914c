"""Model selection on the aws target: a SageMaker hyper-parameter tuning job over ``ml.search``'s space.

Locally ``ml/train.py`` searches inside the training job (``ml.search``, successive halving
within ``search_budget_seconds``). On SageMaker the same space
(:func:`ml.search.sagemaker_ranges`) is searched by a tuning job instead: each of its training
jobs runs ``ml/train.py`` on one configuration (``search_budget_seconds=0``) and prints
``validation:<metric>=<value>;`` lines that the job's metric definitions
(:func:`metric_definitions`, regex :data:`ml.train.METRIC_REGEX`) turn into the objective.
The tuning job's ``ResourceLimits.MaxRuntimeInSeconds`` is the run's search budget.

:class:`SageMakerScriptModeTuningOperator` is the provider's ``SageMakerTuningOperator`` plus:

* a deterministic tuning job name of (DAG, task, run) of at most 32 characters (SageMaker's
  limit for tuning jobs); a retry re-attaches to a running job or reuses a completed one,
  and a failed one is followed by ``-a<n>`` (:func:`nlpops.aws.idempotent.decide_job`);
* code upload and channel staging exactly as the training operator does, done only when
  a new job is created;
* a result with the training operator's XCom keys, for the tuning job's best training job
  (``Training``, ``model_artifact_uri``, ``test_channel_uri``, ``metrics`` …), plus
  ``Tuning`` and ``metrics["selection"]`` (winner, objective, training jobs run), which the
  train DAG records in the registry and the evaluation report.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTuningOperator, serialize
from airflow.providers.amazon.aws.utils import validate_execute_complete_event
from airflow.providers.common.compat.sdk import AirflowException

from include.naming import job_name
from nlpops.aws.idempotent import (
    JOB_NAME_PREFIX,
    NOT_FOUND,
    Lookup,
    _raise_if_failed,
    decide_job,
    defer_to_sagemaker,
    sagemaker_lookup,
)
from nlpops.aws.training import ScriptModeJobMixin
from nlpops.dagkit import context_run_key

if TYPE_CHECKING:
    from airflow.sdk import Context

#: SageMaker's limit on hyper-parameter tuning job names.
MAX_TUNING_JOB_NAME = 32
#: The smallest ``ResourceLimits.MaxRuntimeInSeconds`` SageMaker accepts.
MIN_TUNING_SECONDS = 120
METRICS = ("macro_f1", "accuracy", "roc_auc")
#: Hyper-parameters the tuning job sets per training job (the rest are static).
TUNED = ("classifier", "C", "word_ngram_max", "char_ngram_max", "min_df", "class_weight", "decision_bias")
#: Fields of the ``CreateTrainingJob`` request that a tuning job's training job definition takes as they are.
_DEFINITION_KEYS = (
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)


def tuning_job_name(dag_id: str, task_id: str, run: str, *, attempt: int | None = None) -> str:
    """Deterministic tuning job name of (dag, task, run), ≤ 32 characters."""
    return job_name(f"{JOB_NAME_PREFIX}-{dag_id}", task_id, run, attempt=attempt, max_len=MAX_TUNING_JOB_NAME)


def tuning_lookup(describe: Any) -> Lookup:
    """:func:`~nlpops.aws.idempotent.sagemaker_lookup` for tuning jobs: an unknown one is ``ResourceNotFound``."""
    from botocore.exceptions import ClientError

    inner = sagemaker_lookup(describe, "HyperParameterTuningJobStatus")

    def lookup(name: str) -> tuple[str, dict[str, Any] | None]:
        try:
            return inner(name)
        except ClientError as err:
            # DescribeHyperParameterTuningJob answers an unknown name with ResourceNotFound (training jobs:
            # ValidationException, which sagemaker_lookup handles)
            if err.response.get("Error", {}).get("Code") == "ResourceNotFound":
                return NOT_FOUND, None
            raise

    return lookup


def metric_definitions() -> list[dict[str, str]]:
    """``validation:<metric>`` and ``test:<metric>`` as ``ml/train.py`` prints them (:data:`ml.train.METRIC_REGEX`)."""
    from ml.train import METRIC_REGEX

    return [
        {"Name": f"{split}:{metric}", "Regex": METRIC_REGEX.format(split=split, metric=metric)}
        for split in ("validation", "test")
        for metric in METRICS
    ]


def tuning_job_config(
    training_request: Mapping[str, Any],
    *,
    job_name: str,
    primary_metric: str,
    budget_seconds: int,
    max_jobs: int,
    max_parallel: int,
) -> dict[str, Any]:
    """The ``CreateHyperParameterTuningJob`` request for the ``CreateTrainingJob`` request of one run.

    The training request (:func:`nlpops.aws.sagemaker_config.training_job_config`) becomes the
    training job definition: its hyper-parameters are static except :data:`TUNED`, which the
    ranges of :func:`ml.search.sagemaker_ranges` set, and ``search_budget_seconds`` is 0 (each
    training job trains its one configuration). The objective is ``validation:<primary_metric>``.
    """
    from ml.search import sagemaker_ranges

    if len(job_name) > MAX_TUNING_JOB_NAME:
        raise ValueError(f"tuning job name {job_name!r} is longer than {MAX_TUNING_JOB_NAME} characters")
    if primary_metric not in METRICS:
        raise ValueError(f"primary_metric {primary_metric!r}: use one of {METRICS}")
    if max_jobs < 1 or not 1 <= max_parallel <= max_jobs:
        raise ValueError(f"max_jobs={max_jobs}, max_parallel={max_parallel}: need 1 <= max_parallel <= max_jobs")
    static = {k: v for k, v in dict(training_request["HyperParameters"]).items() if k not in TUNED}
    static["search_budget_seconds"] = json.dumps("0")  # encoded as every value is (encode_hyperparameters)
    algorithm = dict(training_request["AlgorithmSpecification"])
    definition: dict[str, Any] = {
        "StaticHyperParameters": static,
        "AlgorithmSpecification": {
            "TrainingImage": algorithm["TrainingImage"],
            "TrainingInputMode": algorithm.get("TrainingInputMode", "File"),
            "MetricDefinitions": metric_definitions(),
        },
        **{k: training_request[k] for k in _DEFINITION_KEYS if k in training_request},
    }
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": f"validation:{primary_metric}"},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": max_jobs,
                "MaxParallelTrainingJobs": max_parallel,
                "MaxRuntimeInSeconds": max(MIN_TUNING_SECONDS, int(budget_seconds)),
            },
            "ParameterRanges": sagemaker_ranges(),
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": definition,
    }
    if training_request.get("Tags"):
        request["Tags"] = list(training_request["Tags"])
    return request


def selection_from_tuning(tuning: Mapping[str, Any], best_training: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics["selection"]`` (the shape of :meth:`ml.search.SearchResult.summary`) from a tuning job."""
    from nlpops.aws.sagemaker_config import decode_hyperparameters

    config = tuning.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    limits = config.get("ResourceLimits") or {}
    best = tuning.get("BestTrainingJob") or {}
    final = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    params = decode_hyperparameters(dict(best_training.get("HyperParameters") or {}))
    counters = tuning.get("TrainingJobStatusCounters") or {}
    return {
        "method": f"SageMaker hyper-parameter tuning ({config.get('Strategy', '?')}), "
        f"job {tuning.get('HyperParameterTuningJobName')}",
        "metric": str(objective.get("MetricName", "")).removeprefix("validation:"),
        "winner": {k: params.get(k) for k in (*TUNED, "char_ngram_min") if k in params},
        "cv_mean": final.get("Value"),
        "cv_std": None,
        "cv_rows": None,
        "candidates": sum(int(v) for v in counters.values()) if counters else None,
        "fits": counters.get("Completed"),
        "budget_seconds": limits.get("MaxRuntimeInSeconds"),
        "elapsed_seconds": (tuning.get("ConsumedResources") or {}).get("RuntimeInSeconds"),
        "stopped_by_budget": None,
        "best_training_job": best.get("TrainingJobName"),
    }


class SageMakerScriptModeTuningOperator(ScriptModeJobMixin, SageMakerTuningOperator):
    """Tune ``ml/train.py`` with a SageMaker tuning job, never twice per run (see the module docstring).

    Takes the training operator's arguments (:class:`~nlpops.aws.training.SageMakerScriptModeTrainingOperator`)
    plus ``primary_metric``, ``max_jobs`` and ``max_parallel``; the run's search budget is the
    rendered hyper-parameter ``search_budget_seconds``.
    """

    template_fields: Sequence[str] = (*SageMakerTuningOperator.template_fields, *ScriptModeJobMixin.template_fields)

    def __init__(
        self,
        *,
        profile_name: str,
        processed_uri: str,
        output_uri: str,
        code_uri: str,
        hyperparameters: dict[str, Any],
        job_settings: dict[str, Any],
        primary_metric: str = "macro_f1",
        max_jobs: int = 18,
        max_parallel: int = 2,
        lineage: dict[str, Any] | None = None,
        job_tags: dict[str, str] | None = None,
        max_job_attempts: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(config={}, **kwargs)
        self._init_script_mode(
            profile_name=profile_name,
            processed_uri=processed_uri,
            output_uri=output_uri,
            code_uri=code_uri,
            hyperparameters=hyperparameters,
            job_settings=job_settings,
            lineage=lineage,
            job_tags=job_tags,
        )
        self.primary_metric = primary_metric
        self.max_jobs = max_jobs
        self.max_parallel = max_parallel
        self.max_job_attempts = max_job_attempts

    def execute(self, context: Context) -> dict[str, Any]:
        decision = decide_job(
            self.dag_id,
            self.task_id,
            context_run_key(context),
            tuning_lookup(self.hook.describe_tuning_job),
            max_attempts=self.max_job_attempts,
            log=self.log.info,
            namer=tuning_job_name,
        )
        if decision.action == "reuse":
            self.log.info("Tuning job %s already completed: reusing it, nothing is started", decision.name)
            return self._outputs(decision.name)
        if decision.action == "attach":
            self.log.info("Tuning job %s is running (started by an earlier try): waiting for it", decision.name)
            return self._wait(decision.name)
        self.config = self._request(decision.name)
        result = super().execute(context)  # creates the job; defers, waits or describes as configured
        return self._outputs(str(result["Tuning"]["HyperParameterTuningJobName"]))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        validated = validate_execute_complete_event(event)
        if validated["status"] != "success":
            raise AirflowException(f"Error while running tuning job: {validated}")
        return self._outputs(str(validated["job_name"]))

    # -- only when a new job is created ------------------------------------------------------
    def _request(self, name: str) -> dict[str, Any]:
        """Upload the code, stage the channels, build the tuning request (as the training operator does)."""
        budget = int(float(self.hyperparameters.get("search_budget_seconds") or 0))
        if budget <= 0:  # before anything is uploaded
            raise AirflowException(
                f"{self.task_id}: search_budget_seconds is 0 but this task tunes on SageMaker; to train the "
                "pinned configuration set the profile's model.search_budget_seconds: 0 "
                "(or NLPOPS_SEARCH_BUDGET_SECONDS=0)"
            )
        # only the definition is used: each training job gets its name from the tuning job
        training = self._training_definition(name, name_key="tuning_job_name")
        return tuning_job_config(
            training,
            job_name=name,
            primary_metric=self.primary_metric,
            budget_seconds=budget,
            max_jobs=self.max_jobs,
            max_parallel=self.max_parallel,
        )

    # -- every way a try ends ----------------------------------------------------------------------
    def _wait(self, name: str) -> dict[str, Any]:
        if self.deferrable:
            timeout = datetime.timedelta(seconds=self.max_ingestion_time) if self.max_ingestion_time else None
            defer_to_sagemaker(self, name, "tuning", timeout=timeout or self.execution_timeout)
        self.hook.check_status(
            name,
            "HyperParameterTuningJobStatus",
            self.hook.describe_tuning_job,
            self.check_interval,
            self.max_ingestion_time,
        )
        return self._outputs(name)

    def _outputs(self, name: str) -> dict[str, Any]:
        """The training operator's XCom for the best training job, plus ``Tuning`` and the selection."""
        tuning = self.hook.describe_tuning_job(name)
        _raise_if_failed("tuning", name, tuning, "HyperParameterTuningJobStatus")
        status = tuning.get("HyperParameterTuningJobStatus")
        if status != "Completed":
            raise AirflowException(f"SageMaker tuning job {name} is {status}, not Completed")
        best = (tuning.get("BestTrainingJob") or {}).get("TrainingJobName")
        if not best:
            raise AirflowException(
                f"SageMaker tuning job {name} completed without a best training job: no training job reported "
                "the objective metric; read the training jobs' logs for validation:<metric>= lines"
            )
        training = self.hook.describe_training_job(best)
        _raise_if_failed("training", best, training, "TrainingJobStatus")
        result = self._with_outputs({"Training": serialize(training)})
        selection = serialize(selection_from_tuning(tuning, training))
        result["metrics"] = {**result["metrics"], "selection": selection}
        result["Tuning"] = {
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobStatus": status,
            "BestTrainingJob": best,
            "Objective": serialize(
                dict((tuning.get("BestTrainingJob") or {}).get("FinalHyperParameterTuningJobObjectiveMetric") or {})
            ),
            "TrainingJobStatusCounters": tuning.get("TrainingJobStatusCounters"),
        }
        self.log.info("tuning job %s: best training job %s, selection %s", name, best, selection)
        return result


__all__ = [
    "SageMakerScriptModeTuningOperator",
    "metric_definitions",
    "selection_from_tuning",
    "tuning_job_config",
    "tuning_job_name",
]
