"""Drift monitoring: baseline statistics, drift metrics, the retrain policy, reports.

Plain Python (numpy, scipy, scikit-learn, matplotlib); never imports Airflow. The drift
DAG calls :func:`ml.drift.metrics.compute_drift`, :func:`ml.drift.policy.decide` and
:func:`ml.drift.report.write_report`; training calls :func:`ml.drift.baseline.compute_baseline`.
"""
