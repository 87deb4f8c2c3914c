"""``python -m paused_train``: the real training entry (``ml.train``), paused once it has written
the model directory and before it exits, i.e. before the task packs and publishes ``model.tar.gz``.
"""

from __future__ import annotations

from faults import pause_here

from ml import train

if __name__ == "__main__":
    code = train.main()
    pause_here(f"ml.train exited {code}, model directory written, archive not yet packed")
