"""Validation of raw files with Great Expectations Core, with quarantine and reports.

``validate_objects`` and ``build_suite`` import GX (seconds): they are loaded on first use,
so importing this package (e.g. for :class:`QuarantineRateExceeded`) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etl.validation.errors import QuarantineRateExceeded

if TYPE_CHECKING:
    from etl.validation.suites import build_suite
    from etl.validation.validate import validate_objects


def __getattr__(name: str) -> Any:
    if name == "validate_objects":
        from etl.validation.validate import validate_objects

        return validate_objects
    if name == "build_suite":
        from etl.validation.suites import build_suite

        return build_suite
    raise AttributeError(name)


__all__ = ["QuarantineRateExceeded", "build_suite", "validate_objects"]
