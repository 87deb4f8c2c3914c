-- Scored records per input file and model version of one profile (PostgreSQL).
SELECT source_key, model_version, count(*) AS predictions, min(scored_date) AS first_date, max(scored_date) AS last_date
FROM nlpops_predictions
WHERE profile = %(profile)s
GROUP BY source_key, model_version
ORDER BY source_key, model_version
