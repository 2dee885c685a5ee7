"""Export a word checkpoint: `python export.py ckpt=PATH [format=onnx|torchscript] [output=PATH]`.

The model is rebuilt from the checkpoint's config; batch and time axes stay dynamic, and the
export is checked against PyTorch at another time length. Writes model.onnx (or model.pt) and
its .json description (inputs, preprocessing, vocabulary) into the run dir.
"""

import os
from pathlib import Path

os.environ.setdefault("LIPREADING_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from lipreading.run.export import export  # noqa: E402
from lipreading.utils.errors import friendly_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
@friendly_errors
def main(cfg: DictConfig) -> None:
    export(cfg)


if __name__ == "__main__":
    main()
