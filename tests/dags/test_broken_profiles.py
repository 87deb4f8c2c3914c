"""One broken profile does not take down the others: placeholders that fail, named by file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from include.profiles import ProfileError, load_profile

PROJECT = Path(__file__).resolve().parents[2]
GOOD = PROJECT / "include" / "profiles" / "amazon_polarity.yaml"


def test_a_one_class_label_map_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    text = GOOD.read_text().replace("oneclass", "x")
    path = tmp_path / "oneclass.yaml"
    path.write_text(text.replace("name: amazon_polarity", "name: oneclass").replace("positive", "negative"))
    with pytest.raises(ProfileError, match=r"oneclass\.yaml: key 'labels'.*one class 'negative'"):
        load_profile(path)


@pytest.fixture(scope="module")
def dagbag_with_broken_profiles(tmp_path_factory: pytest.TempPathFactory):
    """Every DAG file parsed with one good profile, one invalid YAML and one bad setting."""
    from airflow.dag_processing.dagbag import DagBag

    from include.settings import get_settings

    profiles = tmp_path_factory.mktemp("profiles")
    shutil.copy(GOOD, profiles / GOOD.name)
    (profiles / "broken_yaml.yaml").write_text("name: broken_yaml\nlabels: {1: a, 2: b\n")
    bad = GOOD.read_text().replace("name: amazon_polarity", "name: bad_setting")
    (profiles / "bad_setting.yaml").write_text(bad.replace("max_quarantine_rate: 0.25", "max_quarantine_rate: 7"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NLPOPS_PROFILES_DIR", str(profiles))
        mp.delenv("NLPOPS_PROFILES", raising=False)
        get_settings.cache_clear()
        try:
            yield DagBag(dag_folder=str(PROJECT / "dags")), profiles
        finally:
            get_settings.cache_clear()


def test_good_profile_dags_load_beside_broken_ones(dagbag_with_broken_profiles) -> None:
    dagbag, _ = dagbag_with_broken_profiles
    assert dagbag.import_errors == {}
    for kind in ("ingest", "train", "batch_inference", "drift"):
        good = dagbag.dags[f"amazon_polarity_{kind}"]
        assert "broken-profile" not in good.tags and len(good.tasks) > 1
        for name in ("broken_yaml", "bad_setting"):
            assert "broken-profile" in dagbag.dags[f"{name}_{kind}"].tags


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("broken_yaml", ["broken_yaml.yaml", "not valid YAML"]),
        ("bad_setting", ["bad_setting.yaml", "max_quarantine_rate"]),
    ],
)
def test_the_placeholder_fails_naming_file_and_key(dagbag_with_broken_profiles, name: str, words: list[str]) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    dagbag, _ = dagbag_with_broken_profiles
    dag = dagbag.dags[f"{name}_ingest"]
    assert dag.schedule is None or str(dag.timetable.summary) in ("None", "")
    assert all(w in dag.doc_md for w in words), dag.doc_md
    (task,) = dag.tasks
    with pytest.raises(AirflowFailException) as failed:
        task.python_callable()
    assert all(w in str(failed.value) for w in words), failed.value
