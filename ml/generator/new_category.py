"""A category that did not exist in the training era, per text domain, with its own vocabulary.

The knob ``DriftKnobs.new_category`` turns that share of documents into members of this
class: their label-carrying slots (adjectives, clauses) come from the category's own
signal group and their nouns and aspects from its own lists, so a classifier trained on
the old classes has never seen its words. Unlike ``new_topic`` (new nouns, old labels),
these documents belong to no existing class: the category-evolution loop (issue 15) has
to find them, a person names them, and the model learns the new class.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.generator.layouts import GeneratorError
from ml.generator.vocab import EXTRAS_NEUTRAL, SignalGroup


@dataclass(frozen=True)
class NewCategory:
    """The class name written for its documents and the words that make it up."""

    name: str
    group: SignalGroup
    nouns: tuple[str, ...]
    aspects: tuple[str, ...]


_COUNTERFEIT_ADJ = (
    "counterfeit",
    "a cheap knockoff",
    "clearly fake",
    "not genuine",
    "a replica",
    "bootleg",
    "an imitation",
)
_COUNTERFEIT_CLAUSES = (
    "the serial number does not match the manufacturer records",
    "the hologram sticker is missing and the logo is misspelled",
    "the brand support team confirmed it is a counterfeit",
    "the packaging has spelling mistakes and a fake seal",
    "it is a knockoff sold as the original brand",
    "the authenticity code fails on the official website",
    "the seller shipped a replica instead of the genuine item",
)
_COUNTERFEIT_NOUNS = ("the authenticity certificate", "the hologram seal", "the serial sticker", "the brand logo")
_COUNTERFEIT_ASPECTS = ("the verification code", "the trademark print", "the retail seal", "the batch number")

_COUNTERFEIT = NewCategory(
    name="counterfeit",
    group=SignalGroup(
        adj=_COUNTERFEIT_ADJ,
        clause=_COUNTERFEIT_CLAUSES,
        adj_new=_COUNTERFEIT_ADJ,
        clause_new=_COUNTERFEIT_CLAUSES,
        extras=EXTRAS_NEUTRAL,
    ),
    nouns=_COUNTERFEIT_NOUNS,
    aspects=_COUNTERFEIT_ASPECTS,
)

_CRYPTO_ADJ = ("drained", "frozen on chain", "stuck in the bridge", "gone from the wallet", "unrecoverable")
_CRYPTO_CLAUSES = (
    "my crypto wallet was drained after a phishing airdrop",
    "the exchange froze my bitcoin withdrawal for weeks",
    "the stablecoin lost its peg and they blocked redemptions",
    "the blockchain transfer never arrived at my cold wallet",
    "they lost my seed phrase recovery request",
    "the token swap fee took half of my ethereum",
)
_CRYPTO = NewCategory(
    name="Crypto asset",
    group=SignalGroup(
        adj=_CRYPTO_ADJ, clause=_CRYPTO_CLAUSES, adj_new=_CRYPTO_ADJ, clause_new=_CRYPTO_CLAUSES, extras=("₿", "🪙")
    ),
    nouns=("the crypto exchange", "my cold wallet", "the token bridge", "the staking pool"),
    aspects=("the gas fee", "the seed phrase", "the withdrawal queue", "the wallet address"),
)

_PETS_ADJ = ("pet friendly", "cruel to my dog", "a nightmare for pets", "careless with animals", "kind to my cat")
_PETS_CLAUSES = (
    "my dog had to fly in the cargo hold",
    "the pet carrier did not fit under the seat",
    "they charged a pet fee twice for my cat",
    "my emotional support animal was refused at boarding",
    "the kennel was left on the hot tarmac",
    "nobody checked on my puppy during the layover",
)
_PETS = NewCategory(
    name="pets",
    group=SignalGroup(
        adj=_PETS_ADJ, clause=_PETS_CLAUSES, adj_new=_PETS_ADJ, clause_new=_PETS_CLAUSES, extras=("🐶", "🐱", "🐾")
    ),
    nouns=("the pet carrier", "my dog", "the kennel", "my cat"),
    aspects=("the pet fee", "the cargo hold", "the animal policy", "the crate size"),
)

#: Domain name (``ml.generator.vocab.Domain.name``) → its new category.
NEW_CATEGORIES: dict[str, NewCategory] = {
    "reviews": _COUNTERFEIT,
    "device_reviews": _COUNTERFEIT,
    "complaints": _CRYPTO,
    "tweets": _PETS,
}


def new_category_for(domain_name: str) -> NewCategory:
    """The new category of a domain; a clear error for a domain without one."""
    try:
        return NEW_CATEGORIES[domain_name]
    except KeyError:
        raise GeneratorError(
            f"the generator has no new category for the text domain {domain_name!r} "
            f"(known: {sorted(NEW_CATEGORIES)}); use DriftKnobs(new_category=0)"
        ) from None


__all__ = ["NEW_CATEGORIES", "NewCategory", "new_category_for"]
