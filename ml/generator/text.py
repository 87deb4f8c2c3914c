"""Vectorised text composition: class-conditioned sentences from templates and slot vocabularies.

Every random number a block needs is drawn with numpy in a fixed order, whatever the
drift knobs say: the knobs only move thresholds. So ``DriftKnobs()`` (all zero) gives
byte-identical output to no drift at all, and the same seed gives the same texts.
Python only runs one ``str.format`` per sentence and one join per document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.generator.knobs import DriftKnobs
from ml.generator.new_category import NewCategory
from ml.generator.vocab import HASHTAGS, Domain, SignalGroup

_PUNCT = (".", ".", ".", ".", "!", "...", "!!", ".")


@dataclass(frozen=True)
class _Table:
    """Several word lists flattened into one, addressed by (list number, uniform draw)."""

    flat: np.ndarray  # object array of str
    offsets: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, lists: Sequence[Sequence[str]]) -> _Table:
        for i, lst in enumerate(lists):
            if not lst:
                raise ValueError(f"generator vocabulary list #{i} is empty")
        lengths = np.array([len(x) for x in lists], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        flat = np.empty(int(lengths.sum()), dtype=object)
        flat[:] = [w for lst in lists for w in lst]
        return cls(flat, offsets, lengths)

    def pick(self, which: np.ndarray, u: np.ndarray) -> list[str]:
        idx = self.offsets[which] + np.minimum((u * self.lengths[which]).astype(np.int64), self.lengths[which] - 1)
        return list(self.flat[idx])


class TextModel:
    """Composes documents (and titles) of a domain for a fixed, ordered list of classes."""

    def __init__(self, domain: Domain, groups: Sequence[SignalGroup], new_category: NewCategory | None = None) -> None:
        self.domain = domain
        self.k = len(groups)
        # The new category (if any) is class index k: appended rows, so the picks of the
        # existing classes (and the bytes generated without the knob) do not change.
        all_groups = [*groups, new_category.group] if new_category is not None else list(groups)
        self.has_new_category = new_category is not None
        # table row = class * 2 + era (0 = training vocabulary, 1 = new era)
        self.adj = _Table.of([lst for g in all_groups for lst in (g.adj, g.adj_new)])
        self.clause = _Table.of([lst for g in all_groups for lst in (g.clause, g.clause_new)])
        self.extras = _Table.of([g.extras for g in all_groups])
        # row 0 = training, 1 = new era, 2 = new topic, 3 = new category
        cat_nouns = new_category.nouns if new_category is not None else domain.topic_nouns
        cat_aspects = new_category.aspects if new_category is not None else domain.topic_aspects
        self.nouns = _Table.of([domain.nouns, domain.nouns_new, domain.topic_nouns, cat_nouns])
        self.aspects = _Table.of([domain.aspects, domain.aspects_new, domain.topic_aspects, cat_aspects])
        self.fillers = _Table.of([domain.fillers, domain.fillers_new])
        self.templates = list(domain.templates)
        self.titles = list(domain.title_templates)

    def _signal_classes(self, cls: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Class each signal slot speaks for: mostly the document's, sometimes a confusable other."""
        n = len(cls)
        keep = rng.random(n) < self.domain.signal_keep
        if self.domain.ordinal:
            step = np.where(rng.random(n) < 0.5, -1, 1)
            other = cls + step
            other = np.where((other < 0) | (other >= self.k), cls - step, other)
        else:
            other = (cls + 1 + rng.integers(0, max(self.k - 1, 1), n)) % self.k
        return np.where(keep, cls, other)

    def compose(
        self,
        cls: np.ndarray,
        rng: np.random.Generator,
        knobs: DriftKnobs,
        *,
        titles: bool,
        new_category: np.ndarray | None = None,
    ) -> tuple[list[str], list[str]]:
        """Texts (and titles, empty list when ``titles`` is false) for documents of classes ``cls``.

        ``new_category`` (bool per document) makes those documents members of the new
        category: the slots that speak for their own class speak for the category instead
        (confusable slots still speak for another class), nouns and aspects are its own.
        """
        dom = self.domain
        n = len(cls)
        newcat = np.zeros(n, dtype=bool) if new_category is None else np.asarray(new_category, dtype=bool)
        if newcat.any() and not self.has_new_category:
            raise ValueError("documents flagged new_category but the TextModel was built without a new category")
        # -- per document
        ls = knobs.length_shift
        factor = 1.0 + 2.0 * ls if ls >= 0 else 1.0 + 0.8 * ls
        lam = max(dom.mean_sentences - 1.0, 0.0) * factor
        max_sent = max(1, round(dom.max_sentences * max(factor, 1.0)))
        n_sent = np.minimum(1 + rng.poisson(lam, n), max_sent)
        topic_doc = rng.random(n) < knobs.new_topic
        extra_u = rng.random((2, n))
        # -- per sentence
        total = int(n_sent.sum())
        doc_of = np.repeat(np.arange(n), n_sent)
        sig = self._signal_classes(cls[doc_of], rng)
        newcat_s = newcat[doc_of]
        sig = np.where(newcat_s & (sig == cls[doc_of]), self.k, sig)
        u = rng.random((6, total))
        era = rng.random((5, total)) < knobs.vocab_shift
        tmpl = rng.integers(0, len(self.templates), total)
        digits = rng.integers(2, 400, total)
        tags = rng.integers(0, len(HASHTAGS), total)
        punct = rng.integers(0, len(_PUNCT), total)
        breaks = rng.random(total)

        topic_s = topic_doc[doc_of]
        adj = self.adj.pick(sig * 2 + era[0], u[0])
        clause = self.clause.pick(sig * 2 + era[1], u[1])
        nouns = self.nouns.pick(np.where(newcat_s, 3, np.where(topic_s, 2, era[2].astype(np.int64))), u[2])
        aspects = self.aspects.pick(np.where(newcat_s, 3, np.where(topic_s, 2, era[3].astype(np.int64))), u[3])
        fillers = self.fillers.pick(era[4].astype(np.int64), u[4])
        templates = self.templates
        sentences = [
            templates[t].format(J=j, C=c, N=no, A=a, F=f, D=d, Z=HASHTAGS[z])
            for t, j, c, no, a, f, d, z in zip(
                tmpl.tolist(), adj, clause, nouns, aspects, fillers, digits.tolist(), tags.tolist(), strict=True
            )
        ]
        nl = dom.newline_rate
        seps = np.where(breaks < nl / 2, "\n\n", np.where(breaks < nl, "\n", " ")).tolist()
        parts = [
            (s[:1].upper() + s[1:] + ("" if s[-1:] in "?!." else _PUNCT[p]) + sep)
            for s, p, sep in zip(sentences, punct.tolist(), seps, strict=True)
        ]
        ends = np.cumsum(n_sent).tolist()
        starts = [0, *ends[:-1]]
        texts = ["".join(parts[a:b]).rstrip() for a, b in zip(starts, ends, strict=True)]
        # a few documents carry an emoji / non-Latin token, tinted by class
        with_extra = np.flatnonzero(extra_u[0] < dom.extras_rate)
        if len(with_extra):
            picked = self.extras.pick(np.where(newcat, self.k, cls)[with_extra], extra_u[1][with_extra])
            for i, tok in zip(with_extra.tolist(), picked, strict=True):
                texts[i] = f"{texts[i]} {tok}"
        if not titles:
            return texts, []
        # -- titles: one short phrase per document
        tsig = self._signal_classes(cls, rng)
        tsig = np.where(newcat & (tsig == cls), self.k, tsig)
        tu = rng.random((4, n))
        tera = rng.random((3, n)) < knobs.vocab_shift
        ttmpl = rng.integers(0, len(self.titles), n)
        t_adj = self.adj.pick(tsig * 2 + tera[0], tu[0])
        t_clause = self.clause.pick(tsig * 2 + tera[1], tu[1])
        t_noun = self.nouns.pick(np.where(newcat, 3, np.where(topic_doc, 2, tera[2].astype(np.int64))), tu[2])
        title_list = []
        for t, j, c, no in zip(ttmpl.tolist(), t_adj, t_clause, t_noun, strict=True):
            s = self.titles[t].format(J=j, C=c, N=no)
            title_list.append(s[:1].upper() + s[1:])
        return texts, title_list
