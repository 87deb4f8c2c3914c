-- The processed zone on the aws target: an Athena external table (Glue Data Catalog) over the ETL's Parquet.
-- ${database}.${table}: Glue catalog names; ${location}: s3://<bucket>/<prefix>/processed/<profile>
-- Layout (docs/CONTRACTS.md): ${location}/run=<run_key>/split=<train|validation|test>/*.parquet;
-- new runs are found with `MSCK REPAIR TABLE ${database}.${table}`. Readers drop repeated content_hash.
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.${table} (
    id           string,
    text         string,
    label        string,
    content_hash string,
    source_uri   string,
    ingest_run   string
)
PARTITIONED BY (run string, split string)
STORED AS PARQUET
LOCATION '${location}/'
