"""The nlpops Airflow plugin: the Model Ops view and the extra links of the nlpops operators.

Loaded by Airflow from the plugins folder (``AIRFLOW__CORE__PLUGINS_FOLDER`` = ``plugins/``,
set by ``nlpops.runtime.airflow_environ``). ``plugins/.airflowignore`` keeps Airflow from
importing the files of the ``nlpops`` package one by one as stray top-level modules; the
package itself is imported normally.

- ``fastapi_apps``: the Model Ops app (``nlpops.ui.app``) mounted on the api-server at ``/nlpops``;
- ``external_views``: a top-level "Model Ops" entry in the UI's navigation that shows that
  page inside the UI (``/plugin/model-ops``);
- ``operator_extra_links``: the report links of the local training and transform operators
  (also declared on the operators themselves, which is what Airflow 3 stores with the task).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from nlpops.links.reports import EvaluationReportLink, TransformOutputLink
from nlpops.operators.training import LocalTrainingOperator
from nlpops.operators.transform import LocalBatchTransformOperator
from nlpops.ui.app import app as model_ops_app

URL_PREFIX = "/nlpops"

# Which operator class each plugin-registered link belongs to (Airflow matches class name and module).
EvaluationReportLink.operators = [LocalTrainingOperator]
TransformOutputLink.operators = [LocalBatchTransformOperator]


class NlpopsPlugin(AirflowPlugin):
    """Model Ops page (FastAPI + nav entry) and report links of the nlpops operators."""

    name = "nlpops"
    fastapi_apps = [
        {"app": model_ops_app, "url_prefix": URL_PREFIX, "name": "nlpops Model Ops"},
    ]
    external_views = [
        {
            "name": "Model Ops",
            "href": f"{URL_PREFIX}/",
            "url_route": "model-ops",
            "destination": "nav",
            "nav_top_level": True,
            "icon": f"{URL_PREFIX}/icon.svg",
        },
    ]
    operator_extra_links = [EvaluationReportLink(), TransformOutputLink()]
