-- Results in PostgreSQL (optional publishing, NLPOPS_RESULTS_POSTGRES_CONN_ID): created if absent.
-- One row per prediction, keyed as everywhere by (source_uri, source_record, model_version);
-- one row per drift decision, keyed by (profile, run_key). Indexes serve the dashboard queries
-- in queries/: per profile and day, per class, per model version, per input file.
CREATE TABLE IF NOT EXISTS nlpops_predictions (
    source_uri     text             NOT NULL,  -- the user's input object
    source_record  bigint           NOT NULL,  -- 1-based record number in it
    model_version  text             NOT NULL,
    id             text             NOT NULL,  -- row id (ml.textnorm.row_id), unique per file and record
    profile        text             NOT NULL,
    label          text             NOT NULL,
    confidence     double precision NOT NULL,
    probabilities  jsonb            NOT NULL,
    scored_date    date             NOT NULL,  -- the batch run's logical date
    source_key     text,
    source_etag    text,
    job_name       text,
    run_key        text             NOT NULL,  -- the batch_inference run that published the row
    loaded_at      timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT nlpops_predictions_pkey PRIMARY KEY (source_uri, source_record, model_version)
);
CREATE INDEX IF NOT EXISTS nlpops_predictions_profile_day ON nlpops_predictions (profile, scored_date, label);
CREATE INDEX IF NOT EXISTS nlpops_predictions_profile_version ON nlpops_predictions (profile, model_version, scored_date);
CREATE INDEX IF NOT EXISTS nlpops_predictions_source ON nlpops_predictions (profile, source_key);
CREATE INDEX IF NOT EXISTS nlpops_predictions_run ON nlpops_predictions (run_key);

CREATE TABLE IF NOT EXISTS nlpops_drift_decisions (
    profile            text        NOT NULL,
    run_key            text        NOT NULL,  -- the drift run
    decided_at         timestamptz NOT NULL,
    status             text        NOT NULL,
    retrain            boolean     NOT NULL,
    n                  bigint      NOT NULL,
    model_version      text,
    inference_run_key  text,                  -- the batch it judged
    metrics            jsonb       NOT NULL,
    metrics_over       text[]      NOT NULL,
    reasons            text[]      NOT NULL,
    report_uri         text,
    loaded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT nlpops_drift_decisions_pkey PRIMARY KEY (profile, run_key)
);
CREATE INDEX IF NOT EXISTS nlpops_drift_decisions_profile_time ON nlpops_drift_decisions (profile, decided_at);
