"""resgen's version: the one place it is written (pyproject.toml reads it through hatchling),
importable without importlib.metadata, which costs a cold ``resgen --version`` tens of ms."""

__version__ = "0.1.0"
