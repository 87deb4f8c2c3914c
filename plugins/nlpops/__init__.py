"""nlpops: the Airflow side (hooks, operators, sensors, triggers, notifiers) of the text-classification pipeline."""
