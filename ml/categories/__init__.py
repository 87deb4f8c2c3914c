"""Category evolution: find new topics in scored texts, let a person name them, version the label set.

Pure Python (no Airflow): ``pool`` gathers recent scored texts (weighted towards
low-confidence predictions), ``clusters`` embeds and clusters them and describes each
cluster, ``report`` renders the offline HTML report, ``category_map`` keeps the versioned
category map in the lake (the profile YAML is version 0), ``decisions`` turns a person's
decisions into a new map version and pseudo-labelled training rows, ``gate`` compares a
challenger trained on a new map with the champion on the classes they share.
"""
