"""The model a server answers with, and the watcher that swaps in a newly promoted champion.

A request reads :attr:`ModelSlot.current` once and scores with that object to the end, so a
swap never changes the model under a request in flight. The watcher polls the registry's
``champion`` alias; on a new version it loads the model *completely* (unpack, digest check,
skops load) in its own thread, and only then replaces the slot's reference (one assignment).
A version that fails to load is logged and counted, the old model keeps serving, and the
same (version, artefact) is not retried until the alias moves again.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml.inference import Model, load_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionRef:
    """What the registry says the champion is: its version and its artefact URI."""

    version: str
    artifact_uri: str


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to score, with the registry version it was loaded as."""

    model: Model
    version: str
    artifact_uri: str
    loaded_at: float


def load_champion(ref: ChampionRef) -> LoadedModel:
    """Unpack ``ref.artifact_uri`` (``model.tar.gz`` or a model directory) and load it as ``ref.version``."""
    from ml.transform import prepare_model_dir

    with tempfile.TemporaryDirectory(prefix="nlpops-serve-") as tmp:
        model = load_model(prepare_model_dir(ref.artifact_uri, tmp), version=ref.version)
    return LoadedModel(model, ref.version, ref.artifact_uri, time.time())


def registry_champion(registry: Any, profile: str) -> Callable[[], ChampionRef | None]:
    """A champion source over a :class:`ml.registry.ModelRegistry`: the version the ``champion`` alias names."""
    from ml.registry import CHAMPION

    def current() -> ChampionRef | None:
        mv = registry.get_by_alias(profile, CHAMPION)
        return None if mv is None else ChampionRef(str(mv.version), mv.artifact_uri)

    return current


class ModelSlot:
    """Holds the serving model; :meth:`swap` replaces it in one reference assignment."""

    def __init__(self, initial: LoadedModel | None = None) -> None:
        self._current = initial
        self._lock = threading.Lock()
        self._listeners: list[Callable[[LoadedModel | None, LoadedModel], None]] = []

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def on_swap(self, listener: Callable[[LoadedModel | None, LoadedModel], None]) -> None:
        self._listeners.append(listener)

    def swap(self, new: LoadedModel) -> LoadedModel | None:
        with self._lock:
            old, self._current = self._current, new
        for listener in self._listeners:
            listener(old, new)
        return old


class ChampionWatcher:
    """Polls ``source`` every ``poll_seconds`` and loads a new champion into ``slot`` before swapping."""

    def __init__(
        self,
        source: Callable[[], ChampionRef | None],
        slot: ModelSlot,
        *,
        poll_seconds: float,
        loader: Callable[[ChampionRef], LoadedModel] = load_champion,
        on_failure: Callable[[ChampionRef, BaseException], None] | None = None,
    ) -> None:
        self.source = source
        self.slot = slot
        self.poll_seconds = poll_seconds
        self.loader = loader
        self.on_failure = on_failure
        self._failed: ChampionRef | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """One poll: True when a new champion was loaded and swapped in."""
        try:
            ref = self.source()
        except Exception:  # the registry being briefly unreachable must not stop serving
            log.exception("champion watcher: reading the registry failed; serving what is loaded")
            return False
        current = self.slot.current
        if ref is None:
            if current is None:
                log.warning("champion watcher: the registry has no champion yet; /ping answers 503")
            return False
        if current is not None and (current.version, current.artifact_uri) == (ref.version, ref.artifact_uri):
            return False
        if ref == self._failed:
            return False
        started = time.perf_counter()
        try:
            loaded = self.loader(ref)
        except Exception as exc:
            self._failed = ref
            log.exception(
                "champion watcher: version %s (%s) failed to load; still serving %s",
                ref.version,
                ref.artifact_uri,
                current.version if current else "nothing",
            )
            if self.on_failure is not None:
                self.on_failure(ref, exc)
            return False
        self._failed = None
        self.slot.swap(loaded)
        log.info(
            "champion watcher: now serving version %s (was %s), loaded in %.2f s from %s",
            ref.version,
            current.version if current else "nothing",
            time.perf_counter() - started,
            ref.artifact_uri,
        )
        return True

    def start(self) -> None:
        """Load the current champion now, then keep polling in a daemon thread."""
        self.check_once()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nlpops-champion-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check_once()


__all__ = ["ChampionRef", "ChampionWatcher", "LoadedModel", "ModelSlot", "load_champion", "registry_champion"]
