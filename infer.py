"""Decode one video: `python infer.py video=PATH ckpt=PATH [ground_truth=TEXT] [save_roi=true]`.

Word checkpoints print the top-k words with probabilities; sentence checkpoints print the
decoded text (and its CER given ground_truth). Writes transcript.json into the run dir.
"""

import os
from pathlib import Path

os.environ.setdefault("LIPREADING_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from lipreading.run.configs import register_configs  # noqa: E402
from lipreading.run.infer import infer  # noqa: E402
from lipreading.utils.errors import friendly_errors  # noqa: E402

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="infer")
@friendly_errors
def main(cfg: DictConfig) -> None:
    infer(cfg)


if __name__ == "__main__":
    main()
