"""SageMaker tuning player: a ``CreateHyperParameterTuningJob`` runs its training jobs and picks the best.

What SageMaker's tuning service does, done here on a small scale:

* the tuning job is ``InProgress`` while it works;
* it creates ``jobs`` training jobs named ``<tuning job>-<nnn>-<8 hex>`` from the training job
  definition: the static hyper-parameters plus one point of the ranges each (categorical
  values in turn, continuous ranges at their ends) — they go through moto's
  ``create_training_job``, so the training player runs ``train.py`` for each;
* each finished job's objective is read from its log with the definition's
  ``MetricDefinitions`` regex — how SageMaker gets it — and the best one (``Maximize`` or
  ``Minimize``) becomes ``BestTrainingJob`` with its ``TunedHyperParameters``;
* ``Completed``; ``Failed`` when no training job reported the objective.

moto alone marks a tuning job ``Completed`` at once with a canned best job that does not exist.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from players.base import FAILED, RUNNING, STOPPED, SUCCEEDED, JobFailed, PlayedJob, ServicePlayer

STATES = {RUNNING: "InProgress", SUCCEEDED: "Completed", FAILED: "Failed", STOPPED: "Stopped"}


class SageMakerTuningPlayer(ServicePlayer):
    """Plays SageMaker tuning jobs for moto; needs the training player installed for its training jobs."""

    name = "sagemaker_tuning"

    def __init__(self, harness: Any, training_player: Any = None, jobs: int = 2) -> None:
        super().__init__(harness)
        # install_players builds every player with the harness only: the training player is then
        # found in harness.players when a tuning job runs
        self.training_player = training_player
        self.jobs_per_tuning = jobs

    def _trainer(self) -> Any:
        return self.training_player or self.harness.players["sagemaker_training"]

    def install(self) -> None:
        from moto.sagemaker.models import SageMakerModelBackend

        player = self
        original = SageMakerModelBackend.create_hyper_parameter_tuning_job

        def create_hyper_parameter_tuning_job(backend: Any, hyper_parameter_tuning_job_name: str, **kwargs: Any) -> str:
            arn = original(backend, hyper_parameter_tuning_job_name=hyper_parameter_tuning_job_name, **kwargs)
            job = backend.hyper_parameter_tuning_jobs[hyper_parameter_tuning_job_name]
            player.start(hyper_parameter_tuning_job_name, job, lambda played: player._work(played, backend))
            return str(arn)

        self.patch(SageMakerModelBackend, "create_hyper_parameter_tuning_job", create_hyper_parameter_tuning_job)

    def set_state(self, job: PlayedJob, state: str, message: str = "") -> None:
        from moto.core.utils import utcnow

        obj = job.moto_obj
        status = STATES.get(state, state)
        obj.hyper_parameter_tuning_job_status = status
        obj.last_modified_time = utcnow()
        obj.failure_reason = message
        obj.hyper_parameter_tuning_end_time = utcnow() if status != "InProgress" else None
        if status == "InProgress" or "best" not in job.info:
            obj.best_training_job = None
            obj.OverallBestTrainingJob = None
        counters = job.info.get("counters") or {"Completed": 0, "InProgress": 0}
        obj.training_job_status_counters = {
            "Completed": counters.get("Completed", 0),
            "InProgress": counters.get("InProgress", 0),
            "RetryableError": 0,
            "NonRetryableError": counters.get("Failed", 0),
            "Stopped": 0,
        }

    @staticmethod
    def points(ranges: dict[str, Any], n: int) -> list[dict[str, str]]:
        """``n`` points of the ranges: the i-th categorical value in turn, continuous ranges at min / max."""
        out = []
        for i in range(n):
            point = {r["Name"]: r["Values"][i % len(r["Values"])] for r in ranges.get("CategoricalParameterRanges", [])}
            for r in [*ranges.get("ContinuousParameterRanges", []), *ranges.get("IntegerParameterRanges", [])]:
                point[r["Name"]] = r["MinValue"] if i % 2 == 0 else r["MaxValue"]
            out.append(point)
        return out

    def _work(self, played: PlayedJob, backend: Any) -> None:
        from moto.core.utils import utcnow

        tuning = played.moto_obj
        name = tuning.hyper_parameter_tuning_job_name
        config = tuning.hyper_parameter_tuning_job_config
        definition = tuning.training_job_definition
        objective = config["HyperParameterTuningJobObjective"]
        regex = {m["Name"]: m["Regex"] for m in definition["AlgorithmSpecification"].get("MetricDefinitions", [])}
        if objective["MetricName"] not in regex:
            raise JobFailed(f"ClientError: objective {objective['MetricName']} has no metric definition")
        limit = int(config["ResourceLimits"]["MaxNumberOfTrainingJobs"])
        algorithm = {k: v for k, v in definition["AlgorithmSpecification"].items() if k != "MetricDefinitions"}
        algorithm["MetricDefinitions"] = definition["AlgorithmSpecification"].get("MetricDefinitions", [])
        results: list[tuple[float, str, dict[str, str]]] = []
        counters = {"Completed": 0, "InProgress": 0, "Failed": 0}
        played.info["counters"] = counters
        played.info["training_jobs"] = []
        for i, point in enumerate(self.points(config["ParameterRanges"], min(limit, self.jobs_per_tuning)), start=1):
            digest = hashlib.sha1(f"{name}{i}".encode()).hexdigest()[:8]
            job_name = f"{name}-{i:03d}-{digest}"
            played.info["training_jobs"].append(job_name)
            counters["InProgress"] += 1
            backend.create_training_job(
                training_job_name=job_name,
                hyper_parameters={**definition.get("StaticHyperParameters", {}), **point},
                algorithm_specification=algorithm,
                role_arn=definition["RoleArn"],
                input_data_config=definition["InputDataConfig"],
                output_data_config=definition["OutputDataConfig"],
                resource_config=definition["ResourceConfig"],
                vpc_config=definition.get("VpcConfig"),
                stopping_condition=definition["StoppingCondition"],
                tags=[*(tuning.tags or []), {"Key": "sagemaker:tuning-job", "Value": name}],
                enable_network_isolation=definition.get("EnableNetworkIsolation", False),
                enable_inter_container_traffic_encryption=definition.get(
                    "EnableInterContainerTrafficEncryption", False
                ),
                enable_managed_spot_training=definition.get("EnableManagedSpotTraining", False),
                checkpoint_config=definition.get("CheckpointConfig"),
                debug_hook_config=None,
                debug_rule_configurations=None,
                tensor_board_output_config=None,
                experiment_config=None,
            )
            trained = self._trainer().jobs[job_name]
            trained.done.wait(600)
            counters["InProgress"] -= 1
            if trained.state != SUCCEEDED:
                counters["Failed"] += 1
                continue
            counters["Completed"] += 1
            found = re.findall(regex[objective["MetricName"]], trained.output)
            if found:
                results.append((float(found[-1]), job_name, point))
        if not results:
            raise JobFailed(f"No training job of {name} reported {objective['MetricName']}")
        maximize = objective["Type"] == "Maximize"
        value, best, point = (max if maximize else min)(results)
        job = backend.training_jobs[best]
        played.info["best"] = best
        played.info["objectives"] = {n: v for v, n, _ in results}
        tuning.best_training_job = {
            "TrainingJobName": best,
            "TrainingJobArn": job.arn,
            "TuningJobName": name,
            "CreationTime": job.creation_time,
            "TrainingStartTime": job.creation_time,
            "TrainingEndTime": utcnow(),
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": point,
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "Type": objective["Type"],
                "MetricName": objective["MetricName"],
                "Value": value,
            },
            "ObjectiveStatus": "Succeeded",
        }
        tuning.OverallBestTrainingJob = tuning.best_training_job
        tuning.objective_status_counters = {"Succeeded": len(results), "Pending": 0, "Failed": 0}
