"""The one name for the backend choice: the frameworks resgen writes a network for.

``build``, ``render``, ``convert`` (a checkpoint's side) and ``train`` all take a
:data:`Backend`; ``--backend`` offers :data:`BACKENDS` (``build`` also ``all``).
"""

from __future__ import annotations

import typing
from typing import Literal

Backend = Literal["torch", "keras"]
BACKENDS: tuple[Backend, ...] = typing.get_args(Backend)
