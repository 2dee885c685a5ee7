"""Evaluate checkpoints: `python eval.py ckpt=PATH [split=test] [tta=flip] [data.root=...] [save_log_probs=true]`.

The model and data are rebuilt from the config stored in the checkpoint, so the training
overrides need not be repeated. Writes metrics.json, predictions.csv and the reports into the run
dir; `ckpt=[a,b]` or a quoted glob compares several checkpoints in comparison.md.
"""

import os
from pathlib import Path

os.environ.setdefault("LIPREADING_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from lipreading.reports.compare import evaluate_checkpoints  # noqa: E402
from lipreading.run.configs import register_configs  # noqa: E402
from lipreading.run.evaluate import evaluate  # noqa: E402
from lipreading.utils.errors import friendly_errors  # noqa: E402

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
@friendly_errors
def main(cfg: DictConfig) -> None:
    evaluate_checkpoints(cfg, evaluate)


if __name__ == "__main__":
    main()
