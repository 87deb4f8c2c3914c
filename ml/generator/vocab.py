"""Word lists of the synthetic text domains: reviews, consumer complaints, airline tweets.

Every list is a tuple (fixed order) so that generation never depends on hash order.
A domain has, per *signal group* (a class, or a family of classes that share vocabulary),
adjective-like phrases (``J``) and clauses (``C``) that carry the label, plus shared
nouns (``N``), aspects (``A``) and fillers (``F``) that carry none. Each list has a
"new era" twin used by the vocabulary-shift drift knob and a "new topic" twin used by
the new-topic knob. Signal lists deliberately overlap ("not good" holds "good") so a
bag-of-words model cannot be perfect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------- shared extras
#: Non-Latin and emoji tokens sprinkled into a few documents (neutral, any class).
EXTRAS_NEUTRAL = ("🙂", "🤔", "📦", "✈️", "ありがとう", "très bien", "¿por qué?", "спасибо", "谢谢", "😐", "🙏", "ok 👌")
EXTRAS_NEGATIVE = ("😡", "👎", "😤", "💔", "😞", "🤬", "пожалуйста", "非常に残念")
EXTRAS_POSITIVE = ("😊", "👍", "❤️", "🎉", "😍", "⭐⭐⭐⭐⭐", "très bon", "最高")


@dataclass(frozen=True)
class SignalGroup:
    """The label-carrying vocabulary of one class (or one family of classes)."""

    adj: tuple[str, ...]
    clause: tuple[str, ...]
    adj_new: tuple[str, ...]
    clause_new: tuple[str, ...]
    extras: tuple[str, ...] = EXTRAS_NEUTRAL


@dataclass(frozen=True)
class Domain:
    """A text domain: templates, shared slot vocabularies and their drifted twins."""

    name: str
    templates: tuple[str, ...]
    title_templates: tuple[str, ...]
    nouns: tuple[str, ...]
    aspects: tuple[str, ...]
    fillers: tuple[str, ...]
    nouns_new: tuple[str, ...]
    aspects_new: tuple[str, ...]
    fillers_new: tuple[str, ...]
    topic_nouns: tuple[str, ...]
    topic_aspects: tuple[str, ...]
    mean_sentences: float
    max_sentences: int
    signal_keep: float  # chance that a signal slot speaks for the document's own class
    ordinal: bool = False  # confusions go to neighbouring classes (star ratings)
    newline_rate: float = 0.02  # chance a sentence break is an embedded newline
    extras_rate: float = 0.04  # chance a document gets an emoji / non-Latin token
    groups: dict[str, SignalGroup] = field(default_factory=dict)


def new_era_words() -> frozenset[str]:
    """Every lower-cased word that only the vocabulary-shift lists use (for tests and benchmarks)."""
    old: set[str] = set()
    new: set[str] = set()
    for dom in DOMAINS.values():
        for lst in (dom.nouns, dom.aspects, dom.fillers, dom.templates, dom.title_templates):
            old.update(_words(lst))
        for lst in (dom.nouns_new, dom.aspects_new, dom.fillers_new):
            new.update(_words(lst))
        for g in dom.groups.values():
            old.update(_words(g.adj + g.clause))
            new.update(_words(g.adj_new + g.clause_new))
    return frozenset(new - old)


def _words(phrases: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for p in phrases:
        out.update(w.strip(".,!?;:'\"()").lower() for w in p.split())
    return {w for w in out if w and "{" not in w and not w.isdigit()}


# ---------------------------------------------------------------- product reviews
_R_NEG_STRONG = SignalGroup(
    adj=(
        "terrible",
        "a complete waste of money",
        "awful",
        "useless",
        "junk",
        "the worst purchase I have made",
        "broken on arrival",
        "a total letdown",
        "cheaply made",
        "garbage",
        "unreadable",
        "painfully boring",
        "not good at all",
        "defective",
        "a rip-off",
    ),
    clause=(
        "it broke after a week",
        "I want my money back",
        "it stopped working after two days",
        "I would not recommend it to anyone",
        "I returned it the same day",
        "it fell apart immediately",
        "avoid this at all costs",
        "I regret buying it",
        "nothing about it works",
        "it did not work at all",
        "customer service never answered",
        "I threw it away",
    ),
    adj_new=("lowkey trash", "a total flop fr", "an L purchase", "giving scam vibes", "absolutely cooked", "cringe"),
    clause_new=("it's not it, chat", "this got ratio'd by reality", "it bricked after the update", "zero rizz here"),
    extras=EXTRAS_NEGATIVE,
)
_R_NEG_MILD = SignalGroup(
    adj=(
        "disappointing",
        "not great",
        "not worth it",
        "mediocre",
        "overpriced",
        "flimsy",
        "not as described",
        "not what I expected",
        "poor quality",
        "frustrating",
        "underwhelming",
        "not very good",
        "a bit of a letdown",
    ),
    clause=(
        "it does not do what it promises",
        "I expected much more",
        "the quality is not there",
        "it works but only barely",
        "I would not buy it again",
        "it is not good enough for the price",
        "the description was misleading",
        "it started to wear out quickly",
    ),
    adj_new=("mid", "kinda sus quality", "not the vibe", "meh-tier"),
    clause_new=("it lowkey flopped", "it is giving knockoff", "not a W at all"),
    extras=EXTRAS_NEGATIVE,
)
_R_MIXED = SignalGroup(
    adj=(
        "okay",
        "average",
        "decent for the price",
        "fine",
        "not bad, not great",
        "so-so",
        "acceptable",
        "good but not great",
        "just alright",
        "passable",
    ),
    clause=(
        "it does the job",
        "it has pros and cons",
        "some things are good and some are not",
        "it is fine for occasional use",
        "I have mixed feelings",
        "it is what you pay for",
        "it could be better",
        "I am on the fence",
    ),
    adj_new=("kinda mid but ok", "fine I guess fr", "mid-tier"),
    clause_new=("it's giving average", "no strong vibes either way"),
)
_R_POS_MILD = SignalGroup(
    adj=(
        "good",
        "pretty good",
        "nice",
        "solid",
        "reliable",
        "well made",
        "worth the price",
        "easy to use",
        "not bad at all",
        "quite good",
        "a good buy",
        "sturdy",
        "fast &amp; easy",
    ),
    clause=(
        "it works well",
        "I am happy with it",
        "it does what it says",
        "it is good value for money",
        "no complaints so far",
        "I would buy it again",
        "it works as expected",
        "my kids like it",
    ),
    adj_new=("lowkey solid", "a vibe", "so clean", "elite-ish"),
    clause_new=("it hits different", "it's a W", "no cap it works"),
    extras=EXTRAS_POSITIVE,
)
_R_POS_STRONG = SignalGroup(
    adj=(
        "excellent",
        "fantastic",
        "amazing",
        "perfect",
        "outstanding",
        "brilliant",
        "superb",
        "wonderful",
        "the best I have owned",
        "highly recommended",
        "top notch",
        "worth every penny",
        "a pleasure to use",
        "absolutely great",
    ),
    clause=(
        "I love it",
        "it exceeded my expectations",
        "I recommend it to everyone",
        "it works perfectly",
        "I bought a second one",
        "it is the best purchase this year",
        "I cannot put it down",
        "my whole family loves it",
        "five stars from me",
    ),
    adj_new=("goated", "bussin", "elite", "chef's kiss"),
    clause_new=("it absolutely slaps", "no cap it is amazing", "this is a whole W purchase"),
    extras=EXTRAS_POSITIVE,
)


def _merge(*groups: SignalGroup, extras: tuple[str, ...] = EXTRAS_NEUTRAL) -> SignalGroup:
    return SignalGroup(
        adj=tuple(p for g in groups for p in g.adj),
        clause=tuple(p for g in groups for p in g.clause),
        adj_new=tuple(p for g in groups for p in g.adj_new),
        clause_new=tuple(p for g in groups for p in g.clause_new),
        extras=extras,
    )


_REVIEW_TEMPLATES = (
    "{N} is {J}",
    "honestly, {N} is {J}",
    "{A} is {J}",
    "{C}",
    "I bought {N} {F} and {C}",
    "{F}, and I have to say {A} is {J}",
    "overall {J}",
    "{A} of {N} is {J}",
    "I think {N} is {J}",
    "{F}",
    "I got {N} {F}",
    "my opinion: {J}",
    "{C}, at least for me",
    "after {D} days {C}",
    "would I buy {N} again? {C}",
    "as for {A}, {J}",
    "{N} came {F}",
)
_REVIEW_TITLES = ("{J}", "{J}!", "{N}: {J}", "{N}, {J}", "{C}", "{J} for the price", "{J}")
_REVIEW_FILLERS = (
    "last month",
    "for my son's birthday",
    "after reading the reviews",
    "as a gift",
    "on sale",
    "for the kitchen",
    "before a long trip",
    "right out of the box",
    "to replace my old one",
    "for my daughter",
    "on a friend's advice",
    "at full price",
    "in the blue colour",
    "for work",
    "two weeks ago",
    "for the holidays",
    "with free shipping",
)
_REVIEW_FILLERS_NEW = (
    "after seeing it on TikTok",
    "through the drone delivery",
    "with my crypto cashback",
    "for my remote office pod",
    "during the Prime Day 2031 sale",
)
_REVIEW_ASPECTS = (
    "the battery life",
    "the sound quality",
    "the price",
    "the plot",
    "the packaging",
    "the customer service",
    "the screen",
    "the instructions",
    "the build quality",
    "the shipping",
    "the size",
    "the colour",
    "the setup",
    "the story",
    "the print",
    "the fit",
    "the material",
    "the writing",
    "the ending",
    "the handle",
)
_REVIEW_ASPECTS_NEW = (
    "the app pairing",
    "the subscription tier",
    "the firmware update",
    "the AI assistant",
    "the QR onboarding",
)
_TOPIC_NOUNS_REVIEWS = (
    "this solar generator",
    "the heat pump",
    "the seed starter kit",
    "this telescope",
    "the kayak paddle",
    "the 3D printer filament",
    "this sourdough starter",
    "the beehive frame",
)
_TOPIC_ASPECTS_REVIEWS = (
    "the wattage",
    "the inverter",
    "the germination rate",
    "the eyepiece",
    "the nozzle",
    "the hive",
)

REVIEWS_POLARITY = Domain(
    name="reviews",
    templates=_REVIEW_TEMPLATES,
    title_templates=_REVIEW_TITLES,
    nouns=(
        "this book",
        "the album",
        "this blender",
        "the headphones",
        "this DVD",
        "the charger",
        "this novel",
        "the phone case",
        "these boots",
        "the coffee maker",
        "this game",
        "the toy",
        "the printer",
        "the kettle",
        "this CD",
        "the sequel",
        "the tent",
        "the backpack",
        "this camera",
        "the vacuum",
        "the cookbook",
        "the film",
        "the keyboard",
        "the watch",
        "this jacket",
        "the lamp",
        "the stroller",
        "the drill",
        "this soundtrack",
        "the guitar strings",
        "the Barnes &amp; Noble edition",
    ),
    aspects=_REVIEW_ASPECTS,
    fillers=_REVIEW_FILLERS,
    nouns_new=("the smart ring", "this AI pin", "the foldable phone", "the e-bike", "the VR headset", "the robot mop"),
    aspects_new=_REVIEW_ASPECTS_NEW,
    fillers_new=_REVIEW_FILLERS_NEW,
    topic_nouns=_TOPIC_NOUNS_REVIEWS,
    topic_aspects=_TOPIC_ASPECTS_REVIEWS,
    mean_sentences=5.0,
    max_sentences=16,
    signal_keep=0.82,
    groups={
        "negative": _merge(_R_NEG_STRONG, _R_NEG_MILD, extras=EXTRAS_NEGATIVE),
        "positive": _merge(_R_POS_STRONG, _R_POS_MILD, extras=EXTRAS_POSITIVE),
    },
)

REVIEWS_RATINGS = Domain(
    name="device_reviews",
    templates=_REVIEW_TEMPLATES,
    title_templates=_REVIEW_TITLES,
    nouns=(
        "the Kindle",
        "my Echo",
        "the Fire tablet",
        "this Echo Dot",
        "the Fire TV stick",
        "Alexa",
        "the Paperwhite",
        "the kids tablet",
        "the Echo Show",
        "this e-reader",
        "the Echo Plus",
        "the Tap speaker",
    ),
    aspects=(
        "the battery life",
        "the screen",
        "the sound",
        "the voice recognition",
        "the price",
        "the setup",
        "the app store",
        "the parental controls",
        "the speaker",
        "the backlight",
        "the charging time",
        "the case",
    ),
    fillers=_REVIEW_FILLERS,
    nouns_new=("the Echo Hub 9", "the Kindle Scribe Ultra", "the Fire Max 14", "the Astro robot"),
    aspects_new=_REVIEW_ASPECTS_NEW,
    fillers_new=_REVIEW_FILLERS_NEW,
    topic_nouns=("the smart thermostat", "the video doorbell", "the mesh router", "the smart plug"),
    topic_aspects=("the motion alerts", "the wifi range", "the night vision", "the schedules"),
    mean_sentences=2.6,
    max_sentences=12,
    signal_keep=0.62,
    ordinal=True,
    groups={
        "1": _R_NEG_STRONG,
        "2": _R_NEG_MILD,
        "3": _R_MIXED,
        "4": _R_POS_MILD,
        "5": _R_POS_STRONG,
    },
)

# ---------------------------------------------------------------- consumer complaints


def _grp(
    adj: tuple[str, ...], clause: tuple[str, ...], adj_new: tuple[str, ...], clause_new: tuple[str, ...]
) -> SignalGroup:
    return SignalGroup(adj=adj, clause=clause, adj_new=adj_new, clause_new=clause_new)


COMPLAINT_FAMILIES: dict[str, SignalGroup] = {
    "credit_reporting": _grp(
        (
            "my credit report",
            "an inaccurate tradeline",
            "a hard inquiry I did not authorize",
            "my credit score",
            "a late payment on my report",
            "accounts from identity theft on my file",
            "my consumer report",
        ),
        (
            "the bureau never investigated my dispute",
            "they keep reporting an account that is not mine",
            "my report shows incorrect personal information",
            "the inquiry was made without my permission",
            "they verified the account without any proof",
            "the tradeline is still on my report after 30 days",
        ),
        ("my tokenised credit passport", "the AI credit score"),
        ("the scoring model flagged me with no explanation",),
    ),
    "debt_collection": _grp(
        (
            "a debt I do not owe",
            "the collection agency",
            "the collection account",
            "a medical bill in collections",
            "the debt collector",
            "a zombie debt",
        ),
        (
            "they call me several times a day",
            "they never sent a validation letter",
            "they threatened to sue me",
            "the debt is not mine",
            "they contacted my employer",
            "they keep calling my relatives",
        ),
        ("the robo collector",),
        ("their chatbot texts me at midnight",),
    ),
    "mortgage": _grp(
        (
            "my mortgage",
            "the loan modification",
            "the escrow account",
            "my home loan",
            "the mortgage servicer",
            "the foreclosure",
            "my refinance",
        ),
        (
            "they refused to apply my payments",
            "they started foreclosure while my modification was pending",
            "the escrow shortage doubled my payment",
            "they lost my paperwork again",
            "the servicer transferred my loan without notice",
        ),
        ("my fractional home share",),
        ("the smart contract escrow never released",),
    ),
    "credit_card": _grp(
        (
            "my credit card",
            "the card account",
            "the annual fee",
            "a balance transfer",
            "the rewards points",
            "a charge dispute",
        ),
        (
            "they charged interest on a paid balance",
            "they closed my card without notice",
            "a fraudulent charge was never reversed",
            "they raised my APR without telling me",
        ),
        ("my virtual card", "the tap-to-pay token"),
        ("the issuer's app froze my virtual card",),
    ),
    "bank_account": _grp(
        (
            "my checking account",
            "my savings account",
            "an overdraft fee",
            "the debit card",
            "a deposit hold",
            "the branch",
        ),
        (
            "they froze my account without explanation",
            "they charged overdraft fees on pending transactions",
            "my direct deposit was never credited",
            "the branch refused to close my account",
        ),
        ("my neobank wallet",),
        ("the neobank locked me out after a selfie check",),
    ),
    "student_loan": _grp(
        (
            "my student loan",
            "the loan servicer",
            "income driven repayment",
            "my federal loans",
            "the deferment",
            "public service loan forgiveness",
        ),
        (
            "they put my loans in forbearance without asking",
            "my payments were misapplied",
            "they denied my forgiveness application",
            "they capitalised the interest again",
        ),
        ("my ISA contract",),
        ("the income share agreement took half my bonus",),
    ),
    "payday_loan": _grp(
        ("a payday loan", "the title loan", "a personal loan", "the installment loan", "the online lender"),
        (
            "they debit my account every two weeks",
            "the interest rate is over 300 percent",
            "they rolled over the loan without my consent",
        ),
        ("the earned wage advance app",),
        ("the tip-based advance app kept pulling money",),
    ),
    "vehicle_loan": _grp(
        ("my auto loan", "the car lease", "the vehicle loan", "the dealership financing", "the repossession"),
        (
            "they repossessed my car while I was current",
            "they added GAP insurance I did not want",
            "the lease payoff amount is wrong",
        ),
        ("my EV battery lease",),
        ("the battery subscription was cut off remotely",),
    ),
    "money_transfer": _grp(
        ("a wire transfer", "the money transfer", "my PayPal account", "a Western Union transfer", "the remittance"),
        (
            "the money never arrived",
            "they reversed the transfer after it was sent",
            "the recipient never received the funds",
        ),
        ("my instant payment", "the FedNow transfer"),
        ("the instant payment went to a spoofed account",),
    ),
    "prepaid_card": _grp(
        ("my prepaid card", "the gift card", "the reloadable card", "the payroll card"),
        ("the balance disappeared from the card", "they would not refund the card balance"),
        ("the digital gift wallet",),
        ("the e-gift code was already redeemed",),
    ),
    "virtual_currency": _grp(
        ("my crypto exchange account", "my bitcoin", "the crypto wallet", "the stablecoin"),
        ("my coins were withdrawn by someone else", "the exchange froze my withdrawals"),
        ("my DeFi vault",),
        ("the bridge exploit drained my vault",),
    ),
    "other_service": _grp(
        ("a check cashing service", "the money order", "the credit repair company", "a pawn loan"),
        ("they took my fee and did nothing", "the money order was never honoured"),
        ("the fintech concierge",),
        ("the concierge app charged a hidden fee",),
    ),
    "debt_management": _grp(
        ("the debt settlement company", "a credit counseling plan", "the debt relief program"),
        ("they took fees and never paid my creditors", "they told me to stop paying my bills"),
        ("the AI debt coach",),
        ("the debt coach app sold my data",),
    ),
}

#: CFPB product (both taxonomies) -> vocabulary family. Classes sharing a family are confusable on purpose.
COMPLAINT_PRODUCT_FAMILY: dict[str, str] = {
    "Bank account or service": "bank_account",
    "Consumer Loan": "vehicle_loan",
    "Credit card": "credit_card",
    "Credit reporting": "credit_reporting",
    "Debt collection": "debt_collection",
    "Money transfers": "money_transfer",
    "Mortgage": "mortgage",
    "Other financial service": "other_service",
    "Payday loan": "payday_loan",
    "Prepaid card": "prepaid_card",
    "Student loan": "student_loan",
    "Virtual currency": "virtual_currency",
    "Checking or savings account": "bank_account",
    "Credit card or prepaid card": "credit_card",
    "Credit reporting, credit repair services, or other personal consumer reports": "credit_reporting",
    "Credit reporting or other personal consumer reports": "credit_reporting",
    "Money transfer, virtual currency, or money service": "money_transfer",
    "Payday loan, title loan, or personal loan": "payday_loan",
    "Payday loan, title loan, personal loan, or advance loan": "payday_loan",
    "Vehicle loan or lease": "vehicle_loan",
    "Debt or credit management": "debt_management",
}

COMPLAINTS = Domain(
    name="complaints",
    templates=(
        "on XX/XX/XXXX I contacted {N} about {J}",
        "{C}",
        "{N} told me that {C}",
        "I have disputed {J} with {N} {D} times",
        "this complaint is regarding {J}",
        "{F}",
        "I am asking the CFPB to help me resolve {A} with {J}",
        "when I called {N} the representative said {C}",
        "I sent {N} a letter about {A} and {C}",
        "{F} and {N} still has not fixed {A}",
        "the amount of {{${D}.00}} was charged on XX/XX/2019 for {J}",
        "I have been a customer of XXXX XXXX for {D} months and {C}",
        "{A} is wrong because {C}",
        "please look into {J}",
    ),
    title_templates=("{J}",),
    nouns=(
        "the company",
        "XXXX XXXX",
        "the bank",
        "the servicer",
        "the representative",
        "the agency",
        "TRANSUNION",
        "Experian",
        "Equifax",
        "WELLS FARGO &amp; COMPANY",
        "the supervisor",
        "their legal department",
        "customer service",
        "the manager",
    ),
    aspects=(
        "a dispute",
        "late fees",
        "a written notice",
        "my account",
        "the balance",
        "the payment history",
        "my personal information",
        "the interest charges",
        "a refund",
        "the contract",
        "the paperwork",
    ),
    fillers=(
        "I have attached documentation",
        "to this day nothing has changed",
        "I called them XXXX times",
        "this has caused me great stress",
        "I am a disabled veteran",
        "I have been waiting for months",
        "my husband and I are struggling",
        "I was put on hold for hours",
        "they never responded in writing",
        "I kept every receipt",
        "this is my third complaint",
    ),
    nouns_new=("the chatbot agent", "the open banking portal", "the BNPL provider"),
    aspects_new=("the app notification", "the biometric check", "the instant verification"),
    fillers_new=("their AI assistant hung up on me", "the app kept logging me out", "I only got push notifications"),
    topic_nouns=("the buy now pay later app", "the carbon credit broker", "the rent reporting service"),
    topic_aspects=("the split payments", "the offset certificates", "the rent history"),
    mean_sentences=7.0,
    max_sentences=40,
    signal_keep=0.66,
    newline_rate=0.05,
    extras_rate=0.005,
    groups=COMPLAINT_FAMILIES,
)

# ---------------------------------------------------------------- airline tweets
TWEETS = Domain(
    name="tweets",
    templates=(
        "{C}",
        "{J} {N}",
        "{N} {J}",
        "{C} {F}",
        "flight {D} {C}",
        "{F}, {C}",
        "{N} was {J}",
        "{C} #{Z}",
        "{A}? {C}",
    ),
    title_templates=("{J}",),
    nouns=(
        "the crew",
        "your app",
        "customer service",
        "the gate agent",
        "the pilot",
        "my bag",
        "the lounge",
        "flight attendants",
        "the upgrade",
        "the wifi",
        "the check-in line",
        "the hold music",
        "the seats",
    ),
    aspects=("the baggage fee", "the schedule", "the rebooking", "the boarding", "the refund", "the layover"),
    fillers=(
        "at the gate",
        "on hold for 2 hours",
        "this morning",
        "in Denver",
        "at LAX",
        "again",
        "from DFW",
        "last night",
        "on my way to Boston",
        "with 2 kids",
        "at JFK &amp; LGA",
    ),
    nouns_new=("the boarding app", "the biometric gate", "the AI rebooking bot"),
    aspects_new=("the dynamic fee", "the e-gate", "the digital pass"),
    fillers_new=("via the metaverse lounge", "on the new A321XLR", "with my digital ID"),
    topic_nouns=("the spaceport shuttle", "the air taxi", "the hyperloop pod"),
    topic_aspects=("the launch window", "the vertiport", "the g-forces"),
    mean_sentences=1.6,
    max_sentences=5,
    signal_keep=0.8,
    newline_rate=0.01,
    extras_rate=0.06,
    groups={
        "negative": SignalGroup(
            adj=(
                "delayed again",
                "the worst",
                "so rude",
                "unacceptable",
                "not helpful",
                "a nightmare",
                "cancelled",
                "terrible",
                "ridiculous",
                "a joke",
                "not ok",
                "late flight",
            ),
            clause=(
                "still waiting for my bag",
                "you lost my luggage",
                "nobody at the desk can help",
                "my flight was Cancelled Flightled",
                "3 hours on the tarmac",
                "worst customer service ever",
                "you charged me twice",
                "why is no one answering",
                "I missed my connection",
            ),
            adj_new=("mid service", "cooked again"),
            clause_new=("the AI bot ghosted me", "this ain't it"),
            extras=EXTRAS_NEGATIVE,
        ),
        "neutral": SignalGroup(
            adj=("any update", "the schedule", "info", "the policy", "a question"),
            clause=(
                "is there wifi on this flight?",
                "do you fly to Denver?",
                "can I change my seat online?",
                "what is the baggage policy?",
                "when does boarding start?",
                "how do I add my number?",
                "please DM me",
                "is the flight on time?",
            ),
            adj_new=("the new e-gate rules",),
            clause_new=("does the app support digital ID?",),
        ),
        "positive": SignalGroup(
            adj=(
                "awesome",
                "great",
                "the best",
                "amazing",
                "so helpful",
                "wonderful",
                "not bad at all",
                "super friendly",
                "on time for once",
            ),
            clause=(
                "thank you so much",
                "love the new seats",
                "great flight today",
                "thanks for the upgrade",
                "you guys rock",
                "the crew was fantastic",
                "best airline ever",
                "made my day",
            ),
            adj_new=("goated", "a vibe"),
            clause_new=("this airline slaps", "no cap the best crew"),
            extras=EXTRAS_POSITIVE,
        ),
    },
)
#: Hashtags for the ``{Z}`` slot of tweet templates.
HASHTAGS = ("fail", "travel", "customerservice", "avgeek", "thanks", "help", "delayed", "flying")

DOMAINS: dict[str, Domain] = {
    "amazon_polarity": REVIEWS_POLARITY,
    "amazon_ratings": REVIEWS_RATINGS,
    "cfpb_complaints": COMPLAINTS,
    "airline_tweets": TWEETS,
}
