"""The default inference handler of the image: ``ml.inference`` when the model's code has no entry of its own.

The toolkit's transformer imports ``SAGEMAKER_PROGRAM`` from ``/opt/ml/model/code`` when it is
there (the scoring source archive's entry, which re-exports ``ml.inference`` and sets the
profile) and falls back to these methods otherwise.
"""

from __future__ import annotations

from typing import Any

from sagemaker_inference.default_inference_handler import DefaultInferenceHandler


class ProjectInferenceHandler(DefaultInferenceHandler):  # type: ignore[misc]
    """``model_fn`` / ``input_fn`` / ``predict_fn`` / ``output_fn`` of ``ml/inference.py``."""

    def default_model_fn(self, model_dir: str, context: Any = None) -> Any:
        from ml.inference import model_fn

        return model_fn(model_dir, context)

    def default_input_fn(self, input_data: Any, content_type: str, context: Any = None) -> Any:
        from ml.inference import input_fn

        return input_fn(input_data, content_type, context)

    def default_predict_fn(self, data: Any, model: Any, context: Any = None) -> Any:
        from ml.inference import predict_fn

        return predict_fn(data, model)

    def default_output_fn(self, prediction: Any, accept: str, context: Any = None) -> Any:
        from ml.inference import output_fn

        return output_fn(prediction, accept, context)
