"""Every option of every config group composes and instantiates."""

from pathlib import Path

import hydra
import pytest
import pytorch_lightning as pl
import torch

from lipreading.data.separation import SeparationDataModule
from lipreading.data.tokenizer import CharTokenizer
from lipreading.run.build import build_task, build_trainer, instantiate_group, is_distillation
from lipreading.run.checkpoint import UNIT_KINDS
from lipreading.utils.errors import ConfigError
from lipreading.utils.errors import _user_error as first_user_error
from lipreading.utils.validation import known_kind
from tests.conftest import CONF
from tests.helpers.teachers import write_teacher


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _is_sentence_model(cfg) -> bool:
    return cfg.model._target_.endswith("Seq2SeqNet")


def _sentence_tokenizer() -> CharTokenizer:
    """Stands in for the tokenizer that training builds from the transcripts (16 characters)."""
    return CharTokenizer(list("我们今天在学校习唇语识别上课他她"))


@pytest.mark.parametrize("model", _options("model"))
def test_model_configs_build_and_run(compose_train, model):
    cfg = compose_train(f"model={model}", "data.num_classes=20")
    if cfg.model._target_.endswith("AudioVisualSeparator"):  # separators: mixtures in, one waveform per speaker out
        task = build_task(compose_train("experiment=separation", f"model={model}"))
        with torch.no_grad():
            estimates = task.eval()(torch.randn(2, 20 * 640), torch.tensor([20, 13]), torch.randn(2, 1, 20, 44, 44))
        assert estimates.shape == (2, 2, 20 * 640)
        return
    if _is_sentence_model(cfg):  # sentence models: vocabulary from the tokenizer, seq2seq task
        cfg = compose_train(f"model={model}", "data=synthetic_sentences", "task=seq2seq")
        units = _sentence_tokenizer()
        task = build_task(cfg, units)
        assert task.net.vocab_size == len(units)
        assert (task.net.blank_id, task.net.bos_id, task.net.eos_id) == (units.blank_id, units.bos_id, units.eos_id)
        if model.startswith("small"):
            assert len(task.transcribe(torch.randn(2, 1, 29, 44, 44), torch.tensor([29, 17]))) == 2
        return
    if cfg.model._target_.endswith("LanguageModel"):  # token language models: units in, next-token logits out
        units = _sentence_tokenizer()
        task = build_task(compose_train(f"model={model}", "data=synthetic_sentences_text", "task=language_model"), units)
        assert task.net(torch.randint(0, len(units), (2, 7))).shape == (2, 7, len(units))
        return
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
    if cfg.data._target_.endswith(".SeparationDataModule"):  # mixtures of the clips of a datamodule with audio
        assert isinstance(datamodule, SeparationDataModule) and datamodule.clips.modality == "av"
    elif "num_classes" in cfg.data:
        assert datamodule.num_classes == cfg.data.num_classes
    else:  # sentence data: the vocabulary is the tokenizer's, built from the training transcripts
        assert hasattr(type(datamodule), "tokenizer")


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_trainer_configs_instantiate(compose_train, trainer):
    cfg = compose_train(f"trainer={trainer}", "callbacks=none", "logger=none")
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        pytest.skip("no GPU here")
    assert isinstance(build_trainer(cfg), pl.Trainer)  # as train.py builds it (trainer.time_budget is ours)


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
def test_experiment_configs_compose(compose_train, experiment, tmp_path):
    cfg = compose_train(f"experiment={experiment}")
    if is_distillation(cfg.task):  # distillation recipes name their teacher on the command line
        vocabulary = [f"w{i}" for i in range(cfg.data.num_classes)]
        teacher = write_teacher(tmp_path / "teacher.ckpt", vocabulary)
        cfg = compose_train(f"experiment={experiment}", f"task.teacher.checkpoint={teacher}")
    assert build_task(cfg, _sentence_tokenizer() if known_kind(cfg) in UNIT_KINDS else None) is not None


# A model and data of each task's kind, to build the task with.
TASK_MODELS = {"seq2seq": ["model=small_bigru_ctc", "data=synthetic_sentences"], "separation": ["experiment=separation"],
               "language_model": ["model=lstm_lm", "data=synthetic_sentences_text"]}


@pytest.mark.parametrize("task", _options("task"))
def test_task_configs_build_and_distillation_needs_a_teacher(compose_train, task):
    cfg = compose_train(*TASK_MODELS.get(task, []), f"task={task}")
    assert cfg.task._target_.rsplit(".", 1)[-1] in ("WordClassificationTask", "Seq2SeqTask", "SeparationTask",
                                                    "DistillationTask", "LanguageModelTask")
    if not is_distillation(cfg.task):
        built = build_task(cfg, _sentence_tokenizer() if known_kind(cfg) in UNIT_KINDS else None)
        assert type(built).__name__ == cfg.task._target_.rsplit(".", 1)[-1]
        return
    with pytest.raises(Exception) as info:
        build_task(cfg)
    assert isinstance(first_user_error(info.value), ConfigError)
    assert "task.teacher.checkpoint" in str(first_user_error(info.value))


def test_unknown_option_lists_the_valid_ones(compose_train):
    with pytest.raises(Exception, match="Available options"):
        compose_train("model=no_such_model")


def test_the_pixel_normalisation_is_defined_once(compose_train):
    """One YAML holds mean and std (conf/data/transforms/video.yaml); every dataset's transforms take them from it."""
    defining = [p.relative_to(CONF).as_posix() for p in CONF.rglob("*.yaml") if "mean: 0.421" in p.read_text()]
    assert defining == ["data/transforms/video.yaml"]
    changed = compose_train("data.train_transform.mean=0.5", "data.train_transform.std=0.2").data
    assert (changed.eval_transform.mean, changed.eval_transform.std) == (0.5, 0.2)  # evaluation follows training
    for data in _options("data"):
        cfg = compose_train(f"data={data}").data
        clips = cfg.clips if cfg._target_.endswith("SeparationDataModule") else cfg
        clips = clips.sentences if cfg._target_.endswith("TranscriptDataModule") else clips  # text of a sentence dataset
        for transform in (clips.train_transform, clips.eval_transform):
            assert (transform.mean, transform.std) == (0.421, 0.165), data
