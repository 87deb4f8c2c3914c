"""SageMaker entry of nlpops batch scoring: the handler is ml/inference.py, unchanged."""

import os
from pathlib import Path

# The profile travels as profile.json beside this file (a container environment value holds at
# most 1024 characters); ml.inference reads it from NLPOPS_PROFILE_JSON.
os.environ.setdefault("NLPOPS_PROFILE_JSON", Path(__file__).with_name("profile.json").read_text(encoding="utf-8"))

from ml.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
