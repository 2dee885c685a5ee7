"""Every option of every config group composes and instantiates."""

from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
import torch

from lipreading.training import build_task, instantiate_group
from tests.conftest import CONF


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("model", _options("model"))
def test_model_configs_build_and_run(compose_train, model):
    cfg = compose_train(f"model={model}", "data.num_classes=20")
    task = build_task(cfg)
    assert task.net.num_classes == 20
    if model.startswith("small"):
        with torch.no_grad():
            assert task(torch.randn(2, 1, 29, 44, 44), torch.tensor([29, 17])).shape == (2, 20)


@pytest.mark.parametrize("data", _options("data"))
def test_data_configs_instantiate(compose_train, data):
    cfg = compose_train(f"data={data}")
    datamodule = hydra.utils.instantiate(cfg.data)
    assert isinstance(datamodule, pl.LightningDataModule)
    assert datamodule.num_classes == cfg.data.num_classes


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_trainer_configs_instantiate(compose_train, trainer):
    cfg = compose_train(f"trainer={trainer}")
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        pytest.skip("no GPU here")
    assert isinstance(hydra.utils.instantiate(cfg.trainer), pl.Trainer)


@pytest.mark.parametrize("callbacks", _options("callbacks"))
def test_callback_configs_instantiate(compose_train, callbacks):
    cfg = compose_train(f"callbacks={callbacks}")
    objects = instantiate_group(cfg.callbacks)
    assert all(isinstance(c, pl.Callback) for c in objects)
    assert len(objects) == len(cfg.callbacks)


@pytest.mark.parametrize("logger", _options("logger"))
def test_logger_configs_instantiate(compose_train, logger, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    cfg = compose_train(f"logger={logger}")
    loggers = instantiate_group(cfg.logger)
    assert len(loggers) == len(cfg.logger)
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            assert lg._offline, "without credentials W&B must log offline"


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_experiment_configs_compose(compose_train, experiment):
    cfg = compose_train(f"experiment={experiment}")
    assert build_task(cfg) is not None


def test_unknown_option_lists_the_valid_ones(compose_train):
    with pytest.raises(Exception, match="Available options"):
        compose_train("model=no_such_model")
