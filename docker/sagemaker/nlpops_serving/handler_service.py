"""The model server's handler service (multi-model-server loads the one class of this module)."""

from __future__ import annotations

from sagemaker_inference.default_handler_service import DefaultHandlerService
from sagemaker_inference.transformer import Transformer

from nlpops_serving.handler import ProjectInferenceHandler


class HandlerService(DefaultHandlerService):  # type: ignore[misc]
    """``initialize`` loads the model, ``handle`` answers ``/invocations``, through the project's handler."""

    def __init__(self) -> None:
        super().__init__(transformer=Transformer(default_inference_handler=ProjectInferenceHandler()))
