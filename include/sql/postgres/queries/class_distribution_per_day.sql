-- Predicted class distribution per day of one profile (%(profile)s), for a dashboard (PostgreSQL).
SELECT scored_date, label, count(*) AS predictions, round(avg(confidence)::numeric, 4) AS mean_confidence
FROM nlpops_predictions
WHERE profile = %(profile)s
GROUP BY scored_date, label
ORDER BY scored_date, label
