"""NB-LR: logistic regression on naive-Bayes log-count-ratio scaled features (Wang & Manning, 2012).

For each class ``c`` (one-vs-rest; binary: the second class only) the ratio
``r = log((p / |p|₁) / (q / |q|₁))`` with ``p``, ``q`` the smoothed (α = 1) counts of documents
containing each feature in and outside ``c`` scales the TF-IDF columns, and a binary logistic
regression is fitted on ``X · diag(r)``. Folding ``r`` back into the coefficients gives a
plain linear model on ``X`` (``coef_ = w ∘ r``), so training exports it as a scikit-learn
``LogisticRegression`` (``ml.decision.export``) and the artefact holds only trusted types.
On short sentiment texts it matches fastText bigrams where plain TF-IDF models do not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class NBLogisticRegression(ClassifierMixin, BaseEstimator):
    """One-vs-rest NB-LR with ``decision_function``, ``predict_proba``, ``coef_`` and ``intercept_``."""

    def __init__(self, C: float = 1.0, class_weight: str | None = None, max_iter: int = 2000, alpha: float = 1.0):
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.alpha = alpha

    def fit(self, x: Any, y: Any) -> NBLogisticRegression:
        import scipy.sparse as sp
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"NB-LR needs at least two classes, got {self.classes_.tolist()}")
        x = sp.csr_matrix(x)
        present = (x > 0).astype(np.float64)
        targets = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        coefs, intercepts = [], []
        for c in targets:
            inside = y == c
            p = np.asarray(present[inside].sum(axis=0)).ravel() + self.alpha
            q = np.asarray(present[~inside].sum(axis=0)).ravel() + self.alpha
            r = np.log((p / p.sum()) / (q / q.sum()))
            model = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
            model.fit(x @ sp.diags(r), inside)
            coefs.append(model.coef_.ravel() * r)
            intercepts.append(float(model.intercept_[0]))
        self.coef_ = np.vstack(coefs)
        self.intercept_ = np.asarray(intercepts)
        self.n_features_in_ = x.shape[1]
        return self

    def decision_function(self, x: Any) -> np.ndarray:
        d = np.asarray(x @ self.coef_.T) + self.intercept_
        return d.ravel() if len(self.classes_) == 2 else d

    def predict_proba(self, x: Any) -> np.ndarray:
        d = self.decision_function(x)
        if d.ndim == 1:
            p1 = 1.0 / (1.0 + np.exp(-d))
            return np.stack([1 - p1, p1], axis=1)
        z = d - d.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, x: Any) -> np.ndarray:
        d = self.decision_function(x)
        return self.classes_[(d > 0).astype(int)] if d.ndim == 1 else self.classes_[d.argmax(axis=1)]
