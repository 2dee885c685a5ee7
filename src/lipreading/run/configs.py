"""Config nodes that YAML cannot express, registered with Hydra's ConfigStore by the entry points.

``checkpoint_overrides: open`` is an empty node that takes new keys (Hydra locks every other node
to the keys it has): eval.yaml's ``data``, which overrides any key of the checkpoint's own data
config, so ``python eval.py ckpt=... data.root=DIR`` works as written (no ``+``).
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from lipreading.preprocessing import register_configs as register_preprocessing_configs


def register_configs() -> None:
    """Register the nodes of this module and the ``roi`` options (:class:`PreprocessConfig`)."""
    store = ConfigStore.instance()
    store.store(group="checkpoint_overrides", name="open", node=OmegaConf.create({}, flags={"struct": False}))
    register_preprocessing_configs()
