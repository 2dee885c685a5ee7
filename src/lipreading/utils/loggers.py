"""Experiment loggers that never hang or crash for lack of network."""

from __future__ import annotations

import netrc
import os
from typing import Any

from pytorch_lightning.loggers import WandbLogger


def wandb_has_credentials() -> bool:
    """True when an API key is set in the environment or stored by ``wandb login``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_logger(save_dir: str, project: str, offline: bool | None = None, **kwargs: Any) -> WandbLogger:
    """A W&B logger, offline unless credentials exist (``offline`` forces either way).

    Offline runs are written under ``save_dir/wandb`` and can be uploaded later with
    ``wandb sync``. ``WANDB_MODE=offline`` in the environment is honoured too.
    """
    if offline is None:
        offline = os.environ.get("WANDB_MODE") == "offline" or not wandb_has_credentials()
    os.makedirs(save_dir, exist_ok=True)
    return WandbLogger(save_dir=save_dir, project=project, offline=offline, **kwargs)
