"""Real-time scoring with the batch handler: SageMaker's serving contract on a small ASGI app.

``ml.serving.app`` builds the app (``GET /ping``, ``POST /invocations``, ``GET /metrics``);
``ml.serving.champion`` keeps the registry's champion loaded and swaps in a newly promoted
one without a restart. No Airflow here: ``scripts/serve.py`` (``make serve``) resolves the
token from a file, a setting or an Airflow connection and runs the app with uvicorn.
"""
