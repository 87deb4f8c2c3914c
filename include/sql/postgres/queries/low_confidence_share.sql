-- Share of predictions below a confidence threshold (%(low_confidence)s) per day and model version (PostgreSQL).
SELECT
    scored_date,
    model_version,
    count(*) AS predictions,
    round(avg(CASE WHEN confidence < %(low_confidence)s THEN 1.0 ELSE 0.0 END)::numeric, 4) AS low_confidence_share
FROM nlpops_predictions
WHERE profile = %(profile)s
GROUP BY scored_date, model_version
ORDER BY scored_date, model_version
