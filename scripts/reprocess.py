"""`make reprocess PROFILE=… [ZONE=raw] MATCH='<key pattern>'`: make processed files new again, on purpose.

The ledger keys files by content (S3 ETag, local MD5), so touching a file or re-running a DAG
never reprocesses it. This removes the files whose key (relative to ``<zone>/<profile>/``,
or the bare file name) matches ``MATCH`` from every ledger entry of that zone, done or
refused; the zone's sensor picks them up at its next look (``<profile>_ingest`` for ``raw``,
``<profile>_batch_inference`` for ``inference-input``). Earlier outputs stay where they are.
"""

from __future__ import annotations

import argparse
import sys

ZONES = ("raw", "inference-input")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="profile name (include/profiles/<name>.yaml)")
    parser.add_argument("--zone", default="raw", choices=ZONES, help="the sensor's zone (default: raw)")
    parser.add_argument("patterns", nargs="+", help="fnmatch pattern(s) on the key, e.g. '*' or 'dirty/*.csv'")
    args = parser.parse_args(argv)

    from include.profiles import get_profile
    from include.settings import get_settings
    from nlpops.aws.session import use_airflow_connection
    from nlpops.ledger import Ledger

    use_airflow_connection()  # an s3:// lake is read with the Airflow AWS connection, as the sensor does
    settings = get_settings()
    get_profile(args.profile, settings)  # an unknown profile fails here, naming the file
    forgotten = Ledger.for_zone(args.profile, args.zone, settings).forget(args.patterns)
    if not forgotten:
        print(f"no file of {args.zone}/{args.profile} in the ledger matches {args.patterns}: nothing to reprocess")
        return 1
    print(f"{len(forgotten)} file(s) of {args.zone}/{args.profile} will be processed again at the next sensor look:")
    for key in forgotten:
        print(f"  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
