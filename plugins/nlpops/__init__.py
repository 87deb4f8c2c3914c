"""nlpops: the Airflow side (hooks, operators, sensors, triggers, notifiers) of the text-classification pipeline.

Importing the package changes nothing in ``include.lake`` or ``ml.registry``: the Airflow AWS
connection is wired in explicitly by :func:`nlpops.aws.session.use_airflow_connection`, which
the entry points call (DAG builder, trigger, Airflow plugin, scripts).
"""
