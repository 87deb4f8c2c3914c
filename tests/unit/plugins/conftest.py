"""Fixtures shared by the ledger, NewDataSensor and NewDataTrigger tests: a raw prefix in the test's lake."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from include import lake as lakefs

CSV = b"label,text\n1,good\n"


class RawPrefix(NamedTuple):
    """The raw prefix ``raw/p`` of the test's lake: its folder, its URI and its ledger's URI."""

    dir: Path
    uri: str
    ledger_uri: str

    OLD = time.time() - 3600  # an mtime well outside any quiet period

    def put(self, key: str, data: bytes = CSV, mtime: float = OLD, root: Path | None = None) -> Path:
        """Write ``key`` under the prefix (or under ``root``) with the given mtime."""
        path = (self.dir if root is None else root) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (mtime, mtime))
        return path


@pytest.fixture
def raw(lake: str) -> RawPrefix:
    raw_dir = Path(lakefs.local_path(lake)) / "raw" / "p"
    raw_dir.mkdir(parents=True)
    return RawPrefix(raw_dir, f"{lake}/raw/p", f"{lake}/ledger/p/raw")
