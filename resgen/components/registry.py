"""How a family finds its kinds: every module of its package but ``base``, in ``ORDER``."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType


def discover(package: str, path: Iterable[str], family: str) -> tuple[ModuleType, ...]:
    """The kind modules of ``package`` (its ``__path__`` is ``path``), sorted by their
    ``ORDER``; two kinds of one ``ORDER`` are a programming error, named by ``family``."""
    names = sorted(info.name for info in pkgutil.iter_modules(path) if info.name != "base")
    modules = [importlib.import_module(f"{package}.{name}") for name in names]
    modules.sort(key=lambda module: module.ORDER)
    orders = [module.ORDER for module in modules]
    if len(set(orders)) != len(orders):
        raise RuntimeError(f"{family} kinds share an ORDER: {orders}")
    return tuple(modules)
