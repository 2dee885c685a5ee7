"""Train a lipreading model: `python train.py [group=option ...] [key=value ...]`.

Examples:
    python train.py                                   # CPU demo on the synthetic words
    python train.py model=resnet18_mstcn data=lrw trainer=gpu
    python train.py -m model/backend=tcn,mstcn,dsmstcn seed=1,2,3
    python train.py trainer=debug                     # one batch of each stage
"""

import os
from pathlib import Path

os.environ.setdefault("LIPREADING_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from hydra.types import RunMode  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from lipreading.run.stages import is_staged, train_stages  # noqa: E402
from lipreading.run.train import train  # noqa: E402
from lipreading.utils.clock import process_started_at  # noqa: E402
from lipreading.utils.errors import friendly_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@friendly_errors
def main(cfg: DictConfig) -> float | None:
    # An experiment with `stages` (e.g. experiment=av_synthetic_words), or `generations=N`, trains them in order.
    # A single run's time budget (trainer.time_budget) counts the whole command, start-up included.
    started_at = process_started_at() if HydraConfig.get().mode == RunMode.RUN else None
    metrics = train_stages(cfg) if is_staged(cfg) else train(cfg, started_at)
    # Returned for Hydra sweepers that optimise a value (test/acc for words, test/cer for sentences).
    return metrics.get("objective")


if __name__ == "__main__":
    main()
