-- The results table on the aws target: an Athena external table over the same Parquet layout.
-- ${database}.${table}: Glue catalog names; ${location}: s3://<bucket>/<prefix>/results/<profile>
-- Partitions are Hive-style folders (date=YYYY-MM-DD/model_version=v); after a new partition
-- is published run `MSCK REPAIR TABLE ${database}.${table}` (or ALTER TABLE … ADD PARTITION).
CREATE EXTERNAL TABLE IF NOT EXISTS ${database}.${table} (
    id            string,
    label         string,
    confidence    double,
    probabilities map<string, double>,
    source_uri    string,
    source_record bigint,
    source_key    string,
    source_etag   string,
    job_name      string
)
PARTITIONED BY (`date` string, model_version string)
STORED AS PARQUET
LOCATION '${location}/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD');
