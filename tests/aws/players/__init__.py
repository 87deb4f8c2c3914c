"""Service players for moto: they do the work moto only records (see ``players/base.py``).

Every module of this package is imported by :func:`install_players`, and every
:class:`~players.base.ServicePlayer` subclass in it is installed, so a new player is a new
file here (``sagemaker_training.py``, ``sagemaker_transform.py`` …) and nothing else.
Import as ``players`` (``tests/aws`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from players.base import ServicePlayer


def player_classes() -> list[type[ServicePlayer]]:
    """Every ServicePlayer subclass defined in this package's modules."""
    found: list[type[ServicePlayer]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            is_player = isinstance(obj, type) and issubclass(obj, ServicePlayer) and obj is not ServicePlayer
            if is_player and obj.__module__ == module.__name__ and obj not in found:
                found.append(obj)
    return found


def install_players(harness: Any) -> dict[str, ServicePlayer]:
    """Install every player against the in-process moto backends; returns them by name."""
    installed: dict[str, ServicePlayer] = {}
    for cls in player_classes():
        player = cls(harness)
        player.install()
        installed[player.name] = player
    return installed


def uninstall_players(players: dict[str, ServicePlayer]) -> None:
    """Undo every player's patches (in reverse order of installation)."""
    for player in reversed(list(players.values())):
        player.uninstall()


__all__ = ["install_players", "player_classes", "uninstall_players"]
