"""SageMaker real-time endpoint player: ``UpdateEndpoint`` (not in moto) with blue/green and alarm rollback.

moto creates endpoint configs and endpoints (``InService`` at once) but has no
``UpdateEndpoint``. What SageMaker does, done here on moto's objects:

* an unknown endpoint or endpoint config is a ``ValidationException``; so is an update of an
  endpoint that is not ``InService`` (an update already under way);
* every update's parameters (as botocore parsed them) are kept in :attr:`updates`;
* the endpoint moves to the new config (its production variants from the config) and records
  the request's ``DeploymentConfig`` as ``LastDeploymentConfig``;
* within :meth:`~players.base.ServicePlayer.hold` an update stays ``Updating`` (the old config
  serving, the new one in ``PendingDeploymentSummary``) until the block ends;
* :meth:`fire_alarm` makes the next update meet that CloudWatch alarm in ``ALARM`` while it
  bakes: when the request's ``AutoRollbackConfiguration.Alarms`` names it, the endpoint rolls
  back (stays on the old config, ``InService``, with a ``FailureReason``); an alarm the request
  does not watch changes nothing, as on SageMaker.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from players.base import PlayedJob, ServicePlayer


class SageMakerEndpointPlayer(ServicePlayer):
    """Plays ``UpdateEndpoint`` for moto's endpoints (blue/green, automatic rollback on an alarm)."""

    name = "sagemaker_endpoint"

    def __init__(self, harness: Any = None) -> None:
        super().__init__(harness)
        self.updates: list[dict[str, Any]] = []
        self._alarm: str | None = None

    def fire_alarm(self, alarm_name: str) -> None:
        """The next update's bake meets ``alarm_name`` in ALARM."""
        self._alarm = alarm_name

    def install(self) -> None:
        from moto.core.utils import utcnow
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.responses import SageMakerResponse

        player = self

        def update_endpoint(response: Any) -> str:
            params = json.loads(response.body)
            backend = response.sagemaker_backend
            name, config_name = params["EndpointName"], params["EndpointConfigName"]
            endpoint = backend.endpoints.get(name)
            if endpoint is None:
                raise ValidationError(message=f"Could not find endpoint '{name}'.")
            config = backend.describe_endpoint_config(config_name)  # ValidationError when unknown
            if endpoint.endpoint_status != "InService":
                raise ValidationError(
                    message=f"Cannot update in-progress endpoint '{endpoint.arn}' ({endpoint.endpoint_status})."
                )
            player.updates.append(params)
            deployment = params.get("DeploymentConfig") or {}
            watched = [a["AlarmName"] for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms", [])]
            fired, player._alarm = player._alarm, None
            endpoint.last_modified_time = utcnow()
            endpoint.last_deployment_config = deployment or None
            if fired is not None and fired in watched:
                endpoint.endpoint_status = "InService"
                endpoint.failure_reason = (
                    f"Update rolled back: CloudWatch alarm {fired} went into ALARM while {config_name} baked"
                )
                return json.dumps({"EndpointArn": endpoint.arn})
            if player._held.is_set():  # Updating until released: the old config serves, the new one is pending
                endpoint.endpoint_status = "Updating"
                endpoint.pending_deployment_summary = {"EndpointConfigName": config_name, "StartTime": utcnow()}
                threading.Thread(target=player._finish_update, args=(endpoint, config), daemon=True).start()
            else:
                player._switch(endpoint, config)
            return json.dumps({"EndpointArn": endpoint.arn})

        self.patch(SageMakerResponse, "update_endpoint", update_endpoint)

    def _finish_update(self, endpoint: Any, config: dict[str, Any]) -> None:
        while not self._release.is_set():
            self._release.wait(0.1)
        self._switch(endpoint, config)

    @staticmethod
    def _switch(endpoint: Any, config: dict[str, Any]) -> None:
        endpoint.endpoint_config_name = config["EndpointConfigName"]
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.failure_reason = None
        endpoint.__dict__.pop("pending_deployment_summary", None)
        endpoint.endpoint_status = "InService"

    def set_state(self, job: PlayedJob, state: str, message: str = "") -> None:  # no jobs: updates end at once
        raise NotImplementedError


__all__ = ["SageMakerEndpointPlayer"]
