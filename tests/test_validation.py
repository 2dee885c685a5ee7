"""Impossible or mistyped configs fail at start-up with one sentence, before any data is loaded."""

import pytest

from lipreading.utils.errors import ConfigError
from lipreading.utils.validation import validate_training_config


@pytest.mark.parametrize("overrides, message", [
    (["model=small_bigru_ctc"], "do not fit together"),
    (["data=synthetic_sentences"], "do not fit together"),
    (["task=seq2seq"], "do not fit together"),
    (["data.batch_size=0"], "data.batch_size=0 must be a positive integer"),
    (["data.batch_size=2.5"], "must be a positive integer"),
    (["task.optimizer.lr=-1"], "task.optimizer.lr=-1 must be a positive number"),
    (["trainer.max_epochs=ten"], "trainer.max_epochs='ten'"),
    (["trainer.precision=12-mixed"], "is not one of"),
    (["trainer.precision=16-mixed", "trainer.accelerator=cpu"], "needs a CUDA GPU"),
    (["seed=abc"], "seed='abc' must be an integer"),
])
def test_bad_configs_are_rejected(compose_train, overrides, message):
    with pytest.raises(ConfigError, match=message):
        validate_training_config(compose_train(*overrides))


@pytest.mark.parametrize("overrides", [[], ["model=resnet18_mstcn"], ["experiment=synthetic_sentences"],
                                       ["callbacks=ema", "trainer.precision=bf16-mixed"]])
def test_good_configs_pass(compose_train, overrides):
    validate_training_config(compose_train(*overrides))
