"""Shared fixtures: Hydra composition against conf/ and tiny datasets in the project's layouts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from lipreading.data.clip import Clip, save_clip
from lipreading.run.configs import register_configs

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
os.environ.setdefault("LIPREADING_ROOT", str(REPO))
# One thread per pytest-xdist worker (``make test`` runs one worker per core), two when alone.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, torch.get_num_threads()))
register_configs()  # as eval.py and infer.py do (the roi group, eval.yaml's open `data` node)


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides``; run dir and data dir under ``output_dir``."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir / "run")
        cfg.paths.data_dir = str(output_dir / "data")
        cfg.paths.log_dir = str(output_dir / "logs")
    return cfg


def write_word_dataset(root: Path, words: list[str], per_split: int = 3, frames: int = 29, size: int = 48) -> None:
    """Random-pixel word clips in the LRW layout (for plumbing tests, not learning)."""
    rng = np.random.default_rng(0)
    for word in words:
        for split in ("train", "val", "test"):
            for i in range(per_split):
                video = rng.integers(0, 256, (frames, size, size), dtype=np.uint8)
                save_clip(root / word / split / f"{word}_{i + 1:05d}.npz",
                          Clip(video=video, label=word, word_start=0.4, word_end=0.8))


@pytest.fixture
def compose_train(tmp_path: Path):
    return lambda *overrides: compose_config("train", list(overrides), tmp_path)


@pytest.fixture(scope="module")
def single_thread():
    """Run a module's tiny networks on one thread: at those sizes more threads only add their start-up,
    and on a loaded machine spinning threads slow a 60 ms training step to seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
