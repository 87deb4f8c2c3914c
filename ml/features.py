"""The text classifier: word + character TF-IDF into a linear model (one scikit-learn Pipeline).

The same function builds the pipeline for training (``ml/train.py``), for the quality
benchmark and for tests, so what is measured is what ships. Hyper-parameters mirror
``include.profiles.ModelSpec`` field by field, but this module does not import
``include``: it runs unchanged inside SageMaker's scikit-learn container.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from sklearn.base import ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

Classifier = Literal["logreg", "linear_svm", "sgd", "nblr"]


@dataclass(frozen=True)
class Hyperparameters:
    """Hyper-parameters of the pipeline; same names and defaults as ``ModelSpec``."""

    classifier: Classifier = "logreg"
    word_ngram_max: int = 2
    char_ngram_min: int = 2
    char_ngram_max: int = 5  # 0 = no character features
    max_features_word: int = 200_000
    max_features_char: int = 300_000
    min_df: int = 2
    C: float = 4.0
    class_weight: Literal["balanced", "none"] = "balanced"
    decision_bias: Literal["none", "tuned"] = "none"  # tuned: per-class offsets chosen by k-fold (ml.decision)
    max_iter: int = 2_000
    cv_folds: int = 0
    sample_size: int = 0
    primary_metric: Literal["macro_f1", "accuracy", "roc_auc"] = "macro_f1"
    promotion_margin: float = 0.005
    metric_floor: float = 0.5
    training_timeout_minutes: int = 60
    search_budget_seconds: int = 0  # > 0: ml.search chooses the configuration (this one is a candidate)
    search_candidates: int = 18
    seed: int = 0

    def __post_init__(self) -> None:
        if self.classifier not in ("logreg", "linear_svm", "sgd", "nblr"):
            raise ValueError(f"hyper-parameter classifier={self.classifier!r}: use logreg, linear_svm, sgd or nblr")
        if self.class_weight not in ("balanced", "none"):
            raise ValueError(f"hyper-parameter class_weight={self.class_weight!r}: use balanced or none")
        if self.decision_bias not in ("none", "tuned"):
            raise ValueError(f"hyper-parameter decision_bias={self.decision_bias!r}: use none or tuned")
        if self.word_ngram_max < 1:
            raise ValueError(f"hyper-parameter word_ngram_max={self.word_ngram_max} must be >= 1")
        if self.char_ngram_max and not 1 <= self.char_ngram_min <= self.char_ngram_max:
            raise ValueError(
                f"hyper-parameters char_ngram_min={self.char_ngram_min}, char_ngram_max={self.char_ngram_max}: "
                "need 1 <= min <= max (or char_ngram_max=0 to switch character features off)"
            )
        if self.search_budget_seconds < 0 or self.search_candidates < 1:
            raise ValueError("hyper-parameters search_budget_seconds must be >= 0 and search_candidates >= 1")
        if self.C <= 0 or self.min_df < 1 or self.max_iter < 1:
            raise ValueError("hyper-parameters C must be > 0, min_df >= 1 and max_iter >= 1")

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> Hyperparameters:
        """Build from a mapping (profile ``model:`` section, DAG Params); unknown keys are ignored."""
        names = {f.name: f.type for f in fields(cls)}
        known = {k: v for k, v in values.items() if k in names}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_pipeline(hp: Hyperparameters, *, n_samples: int | None = None) -> Pipeline:
    """An unfitted Pipeline(features → classifier) taking an iterable of str.

    ``n_samples`` (rows it will be fitted on) sets SGD's ``alpha = 1 / (C · n)`` so that
    ``C`` means the same regularisation strength for every classifier.
    """
    return Pipeline([("features", build_features(hp)), ("clf", build_classifier(hp, n_samples=n_samples))])


def build_features(hp: Hyperparameters) -> FeatureUnion:
    """Word n-gram TF-IDF ∪ char_wb n-gram TF-IDF, both sublinear (log tf) and L2-normalised."""
    parts: list[tuple[str, Any]] = [
        (
            "word",
            TfidfVectorizer(
                analyzer="word",
                ngram_range=(1, hp.word_ngram_max),
                min_df=hp.min_df,
                max_features=hp.max_features_word,
                sublinear_tf=True,
                strip_accents="unicode",
                # keep one-character tokens and emoticon-ish runs ("a+", ":)") that the default drops
                token_pattern=r"(?u)\b\w+\b|[!?]+",  # noqa: S106 - a regex, not a password
            ),
        )
    ]
    if hp.char_ngram_max > 0:
        parts.append(
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(hp.char_ngram_min, hp.char_ngram_max),
                    min_df=hp.min_df,
                    max_features=hp.max_features_char,
                    sublinear_tf=True,
                ),
            )
        )
    return FeatureUnion(parts)


def build_classifier(hp: Hyperparameters, *, n_samples: int | None = None) -> ClassifierMixin:
    """The linear classifier named by ``hp.classifier``; every choice has ``predict_proba``."""
    class_weight = "balanced" if hp.class_weight == "balanced" else None
    if hp.classifier == "logreg":
        from sklearn.linear_model import LogisticRegression

        # lbfgs handles sparse TF-IDF, binary and multinomial alike, and converges faster
        # than saga here; liblinear no longer supports multiclass in scikit-learn >= 1.8.
        return LogisticRegression(C=hp.C, class_weight=class_weight, max_iter=hp.max_iter, random_state=hp.seed)
    if hp.classifier == "nblr":
        from ml.nbsvm import NBLogisticRegression

        # training exports it as a plain LogisticRegression (ml.decision.export)
        return NBLogisticRegression(C=hp.C, class_weight=class_weight, max_iter=hp.max_iter)
    if hp.classifier == "linear_svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        svm = LinearSVC(C=hp.C, class_weight=class_weight, max_iter=hp.max_iter, random_state=hp.seed)
        # LinearSVC has no probabilities; sigmoid calibration on 3 internal folds adds them.
        return CalibratedClassifierCV(svm, method="sigmoid", cv=3)
    from sklearn.linear_model import SGDClassifier

    alpha = 1.0 / (hp.C * max(n_samples or 10_000, 1))
    return SGDClassifier(
        loss="modified_huber",
        alpha=alpha,
        class_weight=class_weight,
        max_iter=hp.max_iter,
        tol=1e-4,
        random_state=hp.seed,
    )
