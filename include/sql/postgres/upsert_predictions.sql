-- Staged rows (COPY into the temporary ${stage}) -> nlpops_predictions, in the caller's transaction.
-- 1. Rows of the same input objects and model version that the new batch no longer has (the
--    object was replaced by a shorter one) go, as the Parquet file they came from was replaced.
DELETE FROM nlpops_predictions AS p
USING (SELECT DISTINCT source_uri, model_version FROM ${stage}) AS s
WHERE p.source_uri = s.source_uri AND p.model_version = s.model_version
  AND NOT EXISTS (
      SELECT 1 FROM ${stage} AS n
      WHERE n.source_uri = p.source_uri AND n.source_record = p.source_record AND n.model_version = p.model_version
  );
-- 2. Upsert: a retry or a re-run rewrites its rows instead of adding new ones.
INSERT INTO nlpops_predictions AS p (
    source_uri, source_record, model_version, id, profile, label, confidence, probabilities,
    scored_date, source_key, source_etag, job_name, run_key
)
SELECT DISTINCT ON (source_uri, source_record, model_version)
    source_uri, source_record, model_version, id, profile, label, confidence, probabilities,
    scored_date, source_key, source_etag, job_name, run_key
FROM ${stage}
ORDER BY source_uri, source_record, model_version
ON CONFLICT ON CONSTRAINT nlpops_predictions_pkey DO UPDATE SET
    id = EXCLUDED.id, profile = EXCLUDED.profile, label = EXCLUDED.label, confidence = EXCLUDED.confidence,
    probabilities = EXCLUDED.probabilities, scored_date = EXCLUDED.scored_date, source_key = EXCLUDED.source_key,
    source_etag = EXCLUDED.source_etag, job_name = EXCLUDED.job_name, run_key = EXCLUDED.run_key,
    loaded_at = now();
