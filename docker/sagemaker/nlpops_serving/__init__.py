"""The serving side of the nlpops SageMaker image (`serve`): ml/inference.py behind the inference toolkit.

Lives in the image only (``/opt/nlpops/nlpops_serving``); the handler's behaviour is tested
through ``ml/inference.py`` in ``tests/runtimes/test_sagemaker_runtime.py``.
"""
