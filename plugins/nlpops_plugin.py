"""The nlpops Airflow plugin: the Model Ops view and the extra links of the nlpops operators.

Loaded by Airflow from the plugins folder (``AIRFLOW__CORE__PLUGINS_FOLDER`` = ``plugins/``,
set by ``nlpops.runtime.airflow_environ``). ``plugins/.airflowignore`` keeps Airflow from
importing the files of the ``nlpops`` package one by one as stray top-level modules; the
package itself is imported normally.

- ``fastapi_apps``: the Model Ops app (``nlpops.ui.app``) mounted on the api-server at ``/nlpops``;
- ``external_views``: a top-level "Model Ops" entry in the UI's navigation that shows that
  page inside the UI (``/plugin/model-ops``);
- ``timetables``: :class:`nlpops.timetables.NextCronTimetable`, the DAGs' cron schedule.

The report links are declared on the operators only (``operator_extra_links``), never here:
in Airflow 3 the worker resolves an operator's links when the task finishes and stores each
URL as an XCom, which the api-server reads back. A link registered in a plugin takes
precedence over that stored URL and would run its ``get_link`` inside the api-server, which
has no task-SDK supervisor to read XComs with (``GET …/links`` answered HTTP 500).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from nlpops.aws.session import use_airflow_connection
from nlpops.timetables import NextCronTimetable
from nlpops.ui.app import app as model_ops_app

# The api-server's Model Ops page reads the lake (and the registry) with the AWS connection.
use_airflow_connection()

URL_PREFIX = "/nlpops"


class NlpopsPlugin(AirflowPlugin):
    """Model Ops page (FastAPI + nav entry) and the DAGs' cron timetable; the report links live on the operators."""

    name = "nlpops"
    # custom timetables must be registered for the scheduler to read them back
    timetables = [NextCronTimetable]
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
