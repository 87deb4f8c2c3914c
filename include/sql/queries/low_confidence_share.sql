-- Share of predictions whose confidence is below the threshold (its single positional parameter), per day and model version.
SELECT
    "date",
    model_version,
    count(*) AS predictions,
    round(avg(CASE WHEN confidence < ? THEN 1.0 ELSE 0.0 END), 4) AS low_confidence_share
FROM ${table}
GROUP BY "date", model_version
ORDER BY "date", model_version
