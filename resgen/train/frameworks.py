"""Which framework a run trains in: the :class:`~resgen.train.backend.Framework` ``--backend``
names, opened for this process. The framework is imported here, when a run starts, not before;
the protocol module stays below both implementations, so nothing imports back up.
"""

from __future__ import annotations

import os

from resgen.train.backend import Framework
from resgen.train.config import TrainConfig, World


def open_framework(config: TrainConfig, world: World) -> Framework:
    """The backend ``--backend`` names; its framework is imported here, not before."""
    if config.backend == "torch":
        from resgen.train.torch_trainer import TorchFramework

        return TorchFramework(config, world)
    if config.device == "cpu":  # read when Keras loads its torch backend, if it does
        os.environ.setdefault("KERAS_TORCH_DEVICE", "cpu")
    from resgen.train.keras_trainer import KerasFramework

    return KerasFramework(config, world)
