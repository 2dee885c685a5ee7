"""Evaluate a checkpoint: `python eval.py ckpt=PATH [split=test] [data.root=...]`.

The model and data are rebuilt from the config stored in the checkpoint, so the training
overrides need not be repeated. Writes metrics.json and predictions.csv into the run dir.
"""

import os
from pathlib import Path

os.environ.setdefault("LIPREADING_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from lipreading.evaluation import evaluate  # noqa: E402
from lipreading.utils.errors import friendly_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
@friendly_errors
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
