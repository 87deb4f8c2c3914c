-- Predicted class distribution per day (DuckDB and Athena).
SELECT "date", label, count(*) AS predictions, round(avg(confidence), 4) AS mean_confidence
FROM ${table}
GROUP BY "date", label
ORDER BY "date", label
