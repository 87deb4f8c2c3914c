"""Raw file layouts of the shipped profiles: columns, header, BOM, line endings, quoting,
and plausible values for every non-text column (ids, dates, airlines, companies, ...).

Each layout mimics the real download described in ``../shared/datasets/*/README.md``:

* ``amazon_polarity``: no header, ``"polarity","title","text"`` all quoted, LF;
* ``amazon_ratings``: Datafiniti export, UTF-8 BOM, CRLF, dotted header names;
* ``cfpb_complaints``: variant ``classic`` (``,Product,Consumer complaint narrative``),
  ``complaints`` (18-column ``complaints.csv``) or ``complaints_unzip`` (the same with
  the two-line unzip banner before the header, as in the shared sample);
* ``airline_tweets``: Kaggle ``Tweets.csv``, 15 columns, 18-digit ids, ``-0800`` times.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np

from include.profiles import Profile
from ml.generator.vocab import COMPLAINT_FAMILIES, COMPLAINT_PRODUCT_FAMILY, DOMAINS, Domain, SignalGroup

Columns = dict[str, list[str]]


class GeneratorError(ValueError):
    """The generator cannot produce what was asked (unknown profile, variant, bad option)."""


@dataclass
class Block:
    """One block of generated rows, before they are laid out as CSV records."""

    rng: np.random.Generator
    start: int  # global index of the block's first row (for unique ids)
    classes: list[str]  # profile class order
    true_cls: np.ndarray  # class index the text was generated from
    label_cls: np.ndarray  # class index written as label (differs under label noise)
    raw_labels: list[str]  # raw label values written
    texts: list[str]
    titles: list[str]
    # documents of the generator's new category (DriftKnobs.new_category); their raw label is its name
    new_category: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.texts)

    def pick(self, values: Sequence[str], p: Sequence[float] | None = None) -> list[str]:
        """``n`` draws from ``values`` (with probabilities ``p``) as a list of str."""
        probs = None if p is None else np.asarray(p, dtype=float) / float(np.sum(p))
        idx = self.rng.choice(len(values), size=self.n, p=probs)
        return [values[i] for i in idx.tolist()]


@dataclass(frozen=True)
class Layout:
    """How one profile's raw files look, and how to fill their columns."""

    columns: tuple[str, ...]
    label_column: str
    header: bool
    bom: bool
    lineterminator: str
    quoting: Literal[0, 1, 2, 3]  # a csv.QUOTE_* constant
    priors: Mapping[str, float]  # canonical class -> weight (missing = 0)
    build: Callable[[Block], Columns]
    domain: Domain
    group_of: Callable[[str], SignalGroup]
    titles: bool = False
    preamble: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def output_columns(self, with_label: bool) -> tuple[str, ...]:
        return self.columns if with_label else tuple(c for c in self.columns if c != self.label_column)


# ---------------------------------------------------------------- helpers
def _dates(block: Block, first: date, last: date) -> np.ndarray:
    """``n`` uniform days in [first, last] as numpy ``datetime64[D]`` (vectorised, no per-row objects)."""
    span = (last - first).days
    return np.datetime64(first.isoformat(), "D") + block.rng.integers(0, span + 1, block.n).astype("timedelta64[D]")


def _iso(days: np.ndarray) -> list[str]:
    return list(np.datetime_as_string(days, unit="D"))


_SYL = ("jo", "an", "mar", "ky", "li", "sam", "ta", "ben", "el", "ric", "no", "va", "dee", "rob", "zu", "kat", "mo")


def _handles(block: Block, *, digits_share: float = 0.4) -> list[str]:
    rng = block.rng
    a = rng.integers(0, len(_SYL), block.n).tolist()
    b = rng.integers(0, len(_SYL), block.n).tolist()
    c = rng.integers(0, len(_SYL), block.n).tolist()
    num = rng.integers(1, 999, block.n).tolist()
    with_num = (rng.random(block.n) < digits_share).tolist()
    return [
        f"{_SYL[x]}{_SYL[y]}{_SYL[z]}{n if w else ''}" for x, y, z, n, w in zip(a, b, c, num, with_num, strict=True)
    ]


def _fixed_ids(count: int, length: int, seed: int, alphabet: str) -> list[str]:
    # A constant catalogue (seeded apart from the user's seed): products do not change per run.
    rng = np.random.default_rng(seed)
    return ["".join(alphabet[i] for i in rng.integers(0, len(alphabet), length).tolist()) for _ in range(count)]


# ---------------------------------------------------------------- amazon_polarity
def _build_polarity(block: Block) -> Columns:
    return {"polarity": block.raw_labels, "title": block.titles, "text": block.texts}


# ---------------------------------------------------------------- amazon_ratings
_B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_PRODUCTS = (
    (
        'Amazon Kindle E-Reader 6" Wifi (8th Generation, 2016)',
        "Computers,Tablets,Kindle E-readers,E-Readers & Accessories",
    ),
    (
        'All-New Fire HD 8 Tablet, 8" HD Display, Wi-Fi, 16 GB - Includes Special Offers, Magenta',
        "Electronics,iPad & Tablets,All Tablets,Fire Tablets,Tablets,Computers & Tablets",
    ),
    (
        "Fire Kids Edition Tablet, 7 Display, Wi-Fi, 16 GB, Blue Kid-Proof Case",
        "Computers,Fire Tablets,Electronics Features,Kids' Tablets,iPad & Tablets",
    ),
    (
        'Amazon Echo Show Alexa-enabled Bluetooth Speaker with 7" Screen',
        "Computers,Amazon Echo,Virtual Assistant Speakers,Smart Home Automation,Wireless Speakers",
    ),
    ("Amazon - Echo Plus w/ Built-In Hub - Silver", "Amazon Echo,Smart Home,Networking,Home & Tools,Smart Hub & Kits"),
    ("Amazon Tap - Alexa-Enabled Portable Bluetooth Speaker", "Amazon Echo,Speakers,Portable Audio & Headphones"),
    ("Fire Tablet, 7 Display, Wi-Fi, 16 GB - Includes Special Offers, Black", "Fire Tablets,Tablets,All Tablets"),
    (
        'Kindle Oasis E-reader with Leather Charging Cover - Black, 6" High-Resolution Display (300 ppi), Wi-Fi',
        "eBook Readers,Kindle E-readers,Computers & Tablets",
    ),
    (
        "Amazon 9W PowerFast Official OEM USB Charger and Power Adapter for Fire Tablets and Kindle eReaders",
        "Computers/Tablets & Networking,Tablet & eBook Reader Accs,Chargers & Adapters",
    ),
    (
        "Amazon Fire TV with 4K Ultra HD and Alexa Voice Remote (Pendant Design) | Streaming Media Player",
        "Electronics,TVs Entertainment,Streaming Media Players",
    ),
)
_PRODUCT_IDS = _fixed_ids(len(_PRODUCTS), 20, 20170303, _B62)
_PRODUCT_ASINS = ["B0" + s for s in _fixed_ids(len(_PRODUCTS), 8, 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")]
_PRODUCT_ADDED = ["2017-03-03T16:56:05Z", "2017-03-06T14:59:43Z", "2017-01-11T06:58:33Z", "2018-02-02T02:30:22Z",
                  "2018-05-02T14:01:51Z", "2017-01-04T03:51:17Z", "2016-04-10T22:00:34Z", "2017-03-03T16:56:05Z",
                  "2015-12-09T08:57:06Z", "2017-11-07T16:59:25Z"]  # fmt: skip


def _build_ratings(block: Block) -> Columns:
    rng = block.rng
    prod = rng.choice(len(_PRODUCTS), block.n, p=np.linspace(2.0, 0.5, len(_PRODUCTS)) / 12.5).tolist()
    days = _dates(block, date(2015, 9, 1), date(2018, 9, 30))
    timed = (rng.random(block.n) < 0.15).tolist()
    secs = rng.integers(0, 86_400, block.n).tolist()
    rating = [int(block.classes[c]) if block.classes[c].isdigit() else 3 for c in block.label_cls.tolist()]
    flip = (rng.random(block.n) < 0.04).tolist()
    recommend = [("TRUE" if (r >= 4) != f else "FALSE") for r, f in zip(rating, flip, strict=True)]
    return {
        "id": [_PRODUCT_IDS[p] for p in prod],
        "dateAdded": [_PRODUCT_ADDED[p] for p in prod],
        "name": [_PRODUCTS[p][0] for p in prod],
        "asins": [_PRODUCT_ASINS[p] for p in prod],
        "brand": ["Amazon"] * block.n,
        "categories": [_PRODUCTS[p][1] for p in prod],
        "reviews.date": [
            f"{d}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000Z" if t else f"{d}T00:00:00.000Z"
            for d, t, s in zip(_iso(days), timed, secs, strict=True)
        ],
        "reviews.doRecommend": recommend,
        "reviews.rating": block.raw_labels,
        "reviews.text": block.texts,
        "reviews.title": block.titles,
        "reviews.username": _handles(block),
    }


# ---------------------------------------------------------------- cfpb_complaints
_CFPB_CLASSIC_PRIORS = {
    "Bank account or service": 321, "Consumer Loan": 190, "Credit card": 391, "Credit reporting": 632,
    "Debt collection": 814, "Money transfers": 28, "Mortgage": 697, "Other financial service": 6,
    "Payday loan": 36, "Prepaid card": 29, "Student loan": 213,
}  # fmt: skip
_CFPB_NEW_PRIORS = {
    "Bank account or service": 3, "Checking or savings account": 401, "Consumer Loan": 2, "Credit card": 5,
    "Credit card or prepaid card": 406,
    "Credit reporting, credit repair services, or other personal consumer reports": 2983,
    "Debt collection": 1034, "Money transfer, virtual currency, or money service": 82, "Mortgage": 403,
    "Payday loan": 1, "Payday loan, title loan, or personal loan": 81, "Student loan": 137,
    "Vehicle loan or lease": 84,
}  # fmt: skip
_FAMILY_DETAIL: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # family -> (sub-products, issues, sub-issues)
    "credit_reporting": (("Credit reporting", "Other personal consumer report"),
                         ("Incorrect information on your report", "Improper use of your report",
                          "Problem with a credit reporting company's investigation into an existing problem"),
                         ("Information belongs to someone else", "Account status incorrect",
                          "Their investigation did not fix an error on your report", "")),
    "debt_collection": (("Other debt", "I do not know", "Medical debt", "Credit card debt"),
                        ("Attempts to collect debt not owed", "Written notification about debt",
                         "Communication tactics"), ("Debt is not yours", "Frequent or repeated calls", "")),
    "mortgage": (("Conventional home mortgage", "FHA mortgage", "VA mortgage"),
                 ("Trouble during payment process", "Struggling to pay mortgage", "Applying for a mortgage"), ("",)),
    "credit_card": (("General-purpose credit card or charge card", "Store credit card"),
                    ("Problem with a purchase shown on your statement", "Fees or interest", "Closing your account"),
                    ("Credit card company isn't resolving a dispute about a purchase on your statement", "")),
    "bank_account": (("Checking account", "Savings account", "Other banking product or service"),
                     ("Managing an account", "Closing an account", "Opening an account"),
                     ("Deposits and withdrawals", "Funds not handled or disbursed as instructed", "")),
    "student_loan": (("Federal student loan servicing", "Private student loan"),
                     ("Dealing with your lender or servicer", "Struggling to repay your loan"),
                     ("Received bad information about your loan", "Problem with income driven repayment plan")),
    "payday_loan": (("Installment loan", "Payday loan", "Title loan"),
                    ("Charged fees or interest you didn't expect", "Getting the loan"), ("",)),
    "vehicle_loan": (("Loan", "Lease"), ("Managing the loan or lease", "Struggling to pay your loan"), ("",)),
    "money_transfer": (("Domestic (US) money transfer", "Mobile or digital wallet", "Virtual currency"),
                       ("Fraud or scam", "Money was not available when promised"), ("",)),
    "prepaid_card": (("General-purpose prepaid card", "Gift card"), ("Managing, opening, or closing your account",),
                     ("",)),
    "virtual_currency": (("Virtual currency",), ("Fraud or scam",), ("",)),
    "other_service": (("Check cashing service", "Money order"), ("Fraud or scam",), ("",)),
    "debt_management": (("Debt settlement", "Credit repair services"), ("Fees or interest",), ("",)),
}  # fmt: skip
_COMPANIES = ("TRANSUNION INTERMEDIATE HOLDINGS, INC.", "Experian Information Solutions Inc.", "EQUIFAX, INC.",
              "WELLS FARGO & COMPANY", "JPMORGAN CHASE & CO.", "CITIBANK, N.A.",
              "BANK OF AMERICA, NATIONAL ASSOCIATION",
              "CAPITAL ONE FINANCIAL CORPORATION", "Navient Solutions, LLC.", "Ocwen Financial Corporation",
              "Diversified Consultants, Inc.", "PAYPAL HOLDINGS, INC.")  # fmt: skip
_COMPANY_P = (22, 11, 6, 2.3, 2.1, 1.9, 1.8, 1.5, 1.2, 1.0, 0.8, 0.7)
_STATES = ("CA", "FL", "TX", "NY", "GA", "IL", "PA", "NC", "NJ", "OH", "VA", "MD", "MI", "AZ", "")
_STATE_P = (12, 11.5, 10, 7.5, 6.5, 4, 4, 4, 3.5, 3.5, 3, 3, 3, 2.5, 4)
CFPB_BANNER = "Archive:  /Users/nlpops/Downloads/complaints.csv.zip\n  inflating: complaints.csv          \n"
#: Share of generated ``complaints.csv`` rows without a published narrative. The real export
#: has about 77%; a smaller share keeps generated data useful while still exercising quarantine.
CFPB_BLANK_NARRATIVE = 0.25


def _build_cfpb_classic(block: Block) -> Columns:
    # the unnamed first column is the pandas index of the full export: unique, increasing
    gaps = block.rng.integers(0, 53, block.n)
    ids = (500_000 + (block.start + np.arange(block.n)) * 53 + gaps).tolist()
    return {"": [str(i) for i in ids], "Product": block.raw_labels, "Consumer complaint narrative": block.texts}


def _build_cfpb_complaints(block: Block) -> Columns:
    rng, n = block.rng, block.n
    received = _dates(block, date(2019, 1, 2), date(2020, 3, 31))
    lag = rng.choice(4, n, p=(0.7, 0.2, 0.07, 0.03)).astype("timedelta64[D]")
    blank = (rng.random(n) < CFPB_BLANK_NARRATIVE).tolist()
    u = rng.random((3, n))
    sub_p, issue, sub_i = [], [], []
    for c, a, b, d in zip(block.label_cls.tolist(), u[0].tolist(), u[1].tolist(), u[2].tolist(), strict=True):
        subs, issues, subis = _FAMILY_DETAIL[COMPLAINT_PRODUCT_FAMILY[block.classes[c]]]
        sub_p.append(subs[int(a * len(subs))])
        issue.append(issues[int(b * len(issues))])
        sub_i.append(subis[int(d * len(subis))])
    zips = rng.integers(100, 999, n).tolist()
    masked = (rng.random(n) < 0.6).tolist()
    consent_other = block.pick(("Consent not provided", "N/A", "Other", ""), (2850, 1246, 152, 72))
    ids = (3_000_000 + (block.start + np.arange(n)) * 3 + rng.integers(0, 3, n)).tolist()
    return {
        "Date received": _iso(received),
        "Product": block.raw_labels,
        "Sub-product": sub_p,
        "Issue": issue,
        "Sub-issue": sub_i,
        "Consumer complaint narrative": ["" if b else t for b, t in zip(blank, block.texts, strict=True)],
        "Company public response": block.pick(
            (
                "Company has responded to the consumer and the CFPB and chooses not to provide a public response",
                "",
                "Company believes it acted appropriately as authorized by contract or law",
                "Company disputes the facts presented in the complaint",
            ),
            (3143, 2119, 296, 12),
        ),
        "Company": block.pick(_COMPANIES, _COMPANY_P),
        "State": block.pick(_STATES, _STATE_P),
        "ZIP code": [f"{z}XX" if m else f"{z}{z % 97:02d}" for z, m in zip(zips, masked, strict=True)],
        "Tags": block.pick(
            ("", "Servicemember", "Older American", "Older American, Servicemember"), (4905, 442, 207, 68)
        ),
        "Consumer consent provided?": [
            o if b else "Consent provided" for b, o in zip(blank, consent_other, strict=True)
        ],
        "Submitted via": block.pick(("Web", "Referral", "Phone", "Postal mail", "Fax"), (4376, 529, 407, 222, 86)),
        "Date sent to company": _iso(received + lag),
        "Company response to consumer": block.pick(
            (
                "Closed with explanation",
                "Closed with non-monetary relief",
                "Closed with monetary relief",
                "In progress",
            ),
            (4716, 663, 178, 31),
        ),
        "Timely response?": block.pick(("Yes", "No"), (5542, 80)),
        "Consumer disputed?": ["N/A"] * n,
        "Complaint ID": [str(i) for i in ids],
    }


# ---------------------------------------------------------------- airline_tweets
_AIRLINES = ("United", "US Airways", "American", "Southwest", "Delta", "Virgin America")
_AIRLINE_P = (3234, 2456, 2349, 2103, 1885, 419)
# Kaggle's "Delta" rows are in fact @JetBlue tweets; the handles are the dataset's.
_HANDLE = {"United": "@united", "US Airways": "@USAirways", "American": "@AmericanAir",
           "Southwest": "@SouthwestAir", "Delta": "@JetBlue", "Virgin America": "@VirginAmerica"}  # fmt: skip
_REASONS = ("Customer Service Issue", "Late Flight", "Can't Tell", "Cancelled Flight", "Lost Luggage", "Bad Flight",
            "Flight Booking Problems", "Flight Attendant Complaints", "longlines", "Damaged Luggage")  # fmt: skip
_REASON_P = (2468, 1448, 996, 713, 618, 497, 445, 403, 152, 65)
_TIMEZONES = ("", "Eastern Time (US & Canada)", "Central Time (US & Canada)", "Pacific Time (US & Canada)", "Quito",
              "Atlantic Time (Canada)", "Mountain Time (US & Canada)", "Arizona", "London", "Hawaii")  # fmt: skip
_TZ_P = (4077, 3173, 1636, 1042, 641, 429, 308, 201, 165, 94)
_LOCATIONS = ("", "Boston, MA", "New York, NY", "Washington, DC", "USA", "Los Angeles, CA", "Chicago", "NYC",
              "San Francisco, CA", "Texas", "Denver, CO", "Québec", "東京")  # fmt: skip
_LOC_P = (4036, 133, 126, 123, 112, 85, 82, 82, 81, 60, 50, 10, 5)


def _build_tweets(block: Block) -> Columns:
    rng, n = block.rng, block.n
    airline = block.pick(_AIRLINES, _AIRLINE_P)
    labels = [block.classes[c] for c in block.label_cls.tolist()]
    reason = block.pick(_REASONS, _REASON_P)
    conf_full = (rng.random(n) < 0.7).tolist()
    conf = rng.uniform(0.33, 1.0, n).round(4).tolist()
    rconf = rng.uniform(0.3, 1.0, n).round(4).tolist()
    rmode = rng.random(n).tolist()
    coord_mode = rng.random(n).tolist()
    lat = rng.uniform(25.0, 48.0, n).round(8).tolist()
    lon = rng.uniform(-123.0, -70.0, n).round(8).tolist()
    rt = rng.choice(4, n, p=(0.947, 0.044, 0.006, 0.003)).tolist()
    # ids fall with time like the original export (newest first), unique per row
    step = block.start + np.arange(n)
    ids = (570_306_133_677_760_513 - step * 1_000_003_917 - rng.integers(0, 999_999, n)).tolist()
    # counting back from the newest tweet of the original export, 2015-02-24 11:35:52 -0800
    secs = (step * 37 + rng.integers(0, 37, n)).astype("timedelta64[s]")
    stamps = np.datetime_as_string(np.datetime64("2015-02-24T11:35:52", "s") - secs, unit="s")
    created = [f"{t[:10]} {t[11:]} -0800" for t in stamps.tolist()]
    neg = [lab == "negative" for lab in labels]
    return {
        "tweet_id": [str(i) for i in ids],
        "airline_sentiment": block.raw_labels,
        "airline_sentiment_confidence": [
            "1.0" if f else f"{c:.4f}".rstrip("0") for f, c in zip(conf_full, conf, strict=True)
        ],
        "negativereason": [r if g else "" for r, g in zip(reason, neg, strict=True)],
        "negativereason_confidence": [
            ("1.0" if m < 0.45 else f"{c:.4f}".rstrip("0")) if g else ("0.0" if m < 0.25 else "")
            for g, m, c in zip(neg, rmode, rconf, strict=True)
        ],
        "airline": airline,
        "airline_sentiment_gold": [""] * n,
        "name": _handles(block, digits_share=0.3),
        "negativereason_gold": [""] * n,
        "retweet_count": [str(r) for r in rt],
        "text": [f"{_HANDLE[a]} {t}" for a, t in zip(airline, block.texts, strict=True)],
        "tweet_coord": [
            "" if m < 0.93 else ("[0.0, 0.0]" if m < 0.945 else f"[{la}, {lo}]")
            for m, la, lo in zip(coord_mode, lat, lon, strict=True)
        ],
        "tweet_created": created,
        "tweet_location": block.pick(_LOCATIONS, _LOC_P),
        "user_timezone": block.pick(_TIMEZONES, _TZ_P),
    }


# ---------------------------------------------------------------- registry of layouts
VARIANTS = {"cfpb_complaints": ("classic", "complaints", "complaints_unzip")}


def _group_lookup(domain: Domain, family: dict[str, str] | None = None) -> Callable[[str], SignalGroup]:
    def lookup(cls: str) -> SignalGroup:
        key = family.get(cls, "") if family is not None else cls
        if key not in domain.groups:
            raise GeneratorError(f"class {cls!r} has no vocabulary in the generator's {domain.name!r} domain")
        return domain.groups[key]

    return lookup


def layout_for(profile: Profile, variant: str | None = None) -> Layout:
    """The raw layout of ``profile`` (and ``variant`` for profiles with several exports)."""
    name = profile.name
    allowed = VARIANTS.get(name, ())
    if variant is not None and variant not in allowed:
        hint = f"one of {', '.join(allowed)}" if allowed else "none (this profile has one layout)"
        raise GeneratorError(f"variant={variant!r} is not valid for profile {name!r}: use {hint}")
    cols = tuple(profile.input.columns)
    label = profile.fields.label
    if name == "amazon_polarity":
        dom = DOMAINS[name]
        return Layout(cols, label, False, False, "\n", csv.QUOTE_ALL, {"negative": 1, "positive": 1},
                      _build_polarity, dom, _group_lookup(dom), titles=True)  # fmt: skip
    if name == "amazon_ratings":
        dom = DOMAINS[name]
        priors = {"1": 57, "2": 46, "3": 168, "4": 1025, "5": 2948}
        return Layout(cols, label, True, True, "\r\n", csv.QUOTE_MINIMAL, priors, _build_ratings, dom,
                      _group_lookup(dom), titles=True)  # fmt: skip
    if name == "cfpb_complaints":
        dom = DOMAINS[name]
        v = variant or "classic"
        if v == "classic":
            return Layout(cols, label, True, False, "\n", csv.QUOTE_MINIMAL, dict(_CFPB_CLASSIC_PRIORS),
                          _build_cfpb_classic, dom, _group_lookup(dom, COMPLAINT_PRODUCT_FAMILY))  # fmt: skip
        alt = tuple(profile.input.alternate_columns[0]) if profile.input.alternate_columns else ()
        if len(alt) != 18:
            raise GeneratorError(f"profile {name!r}: input.alternate_columns[0] should be the 18-column export")
        return Layout(alt, label, True, False, "\n", csv.QUOTE_MINIMAL, dict(_CFPB_NEW_PRIORS),
                      _build_cfpb_complaints, dom, _group_lookup(dom, COMPLAINT_PRODUCT_FAMILY),
                      preamble=CFPB_BANNER if v == "complaints_unzip" else "")  # fmt: skip
    if name == "airline_tweets":
        dom = DOMAINS[name]
        priors = {"negative": 7805, "neutral": 2627, "positive": 2014}
        return Layout(cols, label, True, False, "\n", csv.QUOTE_MINIMAL, priors, _build_tweets, dom, _group_lookup(dom))
    raise GeneratorError(
        f"profile {name!r} has no generator layout; known: amazon_polarity, amazon_ratings, cfpb_complaints, "
        "airline_tweets (add one in ml/generator/layouts.py)"
    )


__all__ = ["COMPLAINT_FAMILIES", "VARIANTS", "Block", "GeneratorError", "Layout", "layout_for"]
