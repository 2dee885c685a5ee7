"""Summarise a sentence dataset: `python stats.py [data=chinese_lips] [data.root=...]`.

Prints split sizes (clips, hours, frames), a duration histogram, the character vocabulary built
from the training transcripts, and the out-of-vocabulary rate of val and test.
"""

import os
from pathlib import Path

os.environ.setdefault("LIPREADING_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from lipreading.utils.errors import ConfigError, friendly_errors  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="stats")
@friendly_errors
def main(cfg: DictConfig) -> None:
    datamodule = hydra.utils.instantiate(cfg.data)
    if not hasattr(datamodule, "stats"):
        raise ConfigError(f"data={cfg.data._target_} is not a sentence dataset; stats.py summarises sentence data")
    datamodule.prepare_data()
    print(datamodule.stats(bin_seconds=cfg.bin_seconds))


if __name__ == "__main__":
    main()
