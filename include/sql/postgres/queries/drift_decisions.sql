-- Drift decisions of one profile over time, with the batch and model version each judged (PostgreSQL).
SELECT decided_at, status, retrain, n, model_version, inference_run_key, metrics_over, report_uri
FROM nlpops_drift_decisions
WHERE profile = %(profile)s
ORDER BY decided_at
