-- The results table on the local target: a DuckDB view over the published Parquet files.
-- ${table}: view name; ${location}: the local path of results/<profile> (no trailing slash).
-- Layout: ${location}/date=<YYYY-MM-DD>/model_version=<v>/<input key hash>-<checksum>.parquet
CREATE OR REPLACE VIEW ${table} AS
SELECT *
FROM read_parquet(
    '${location}/**/*.parquet',
    hive_partitioning = true,
    hive_types = {'date': DATE, 'model_version': VARCHAR},
    union_by_name = true
);
