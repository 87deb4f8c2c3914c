-- Scored records per input file and model version (DuckDB and Athena).
SELECT source_key, model_version, count(*) AS predictions, min("date") AS first_date, max("date") AS last_date
FROM ${table}
GROUP BY source_key, model_version
ORDER BY source_key, model_version
