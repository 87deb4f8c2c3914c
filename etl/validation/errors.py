"""Errors of the validation stage (cheap to import: no GX, no pandas)."""

from __future__ import annotations

from typing import Any

#: File statuses that mean "refused whole": nothing of the file is ingested, the ledger records it as refused.
REFUSED_STATUSES = ("quarantined_whole", "refused")


class QuarantineRateExceeded(ValueError):
    """The circuit breaker: too large a share of one run's rows went to quarantine.

    Raised only after validated rows, quarantine and reports are all published, so the
    operator can inspect what was refused before fixing the source or the threshold.
    """

    def __init__(
        self,
        profile: str,
        rate: float,
        threshold: float,
        quarantine_uri: str,
        *,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        self.profile = profile
        #: the run's manifest (its ``files`` say which were refused), published before the raise
        self.manifest = manifest
        self.rate = rate
        self.threshold = threshold
        self.quarantine_uri = quarantine_uri
        super().__init__(
            f"profile {profile!r}: {rate:.1%} of the rows were quarantined, above "
            f"validation.max_quarantine_rate={threshold:.1%}. Inspect {quarantine_uri} "
            "(rows.jsonl and files/), fix the source files, or raise max_quarantine_rate in "
            f"include/profiles/{profile}.yaml if this share of bad rows is expected."
        )
