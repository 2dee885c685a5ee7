"""Fine-tuning a word model: a new head for other words (init_from.model=), a frozen frontend, a lower
frontend learning rate, and the synthetic words' other-word vocabularies."""

import logging

import pytest
import torch
import torch.nn.functional as F
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from lipreading.data.synthetic import default_vocabulary
from lipreading.run.build import build_task, load_network_weights
from lipreading.run.checkpoint import read_checkpoint
from lipreading.utils.errors import CheckpointError
from tests.helpers.teachers import TINY_MODEL, write_teacher

WORDS = ["ABOUT", "BILLION", "SPEND"]


def tiny_net(compose_train, classes: int, *overrides: str) -> torch.nn.Module:
    return build_task(compose_train(*TINY_MODEL, f"data.num_classes={classes}", *overrides)).net


def test_other_words_get_a_new_head_whose_shared_rows_are_copied(compose_train, tmp_path, caplog):
    path = write_teacher(tmp_path / "w.ckpt", WORDS, seed=5)
    stored = {k[len("net."):]: v for k, v in read_checkpoint(path).state_dict.items()}
    torch.manual_seed(1)
    net = tiny_net(compose_train, 4)
    fresh = {k: v.clone() for k, v in net.state_dict().items() if k.startswith("head.")}
    with caplog.at_level(logging.INFO, logger="lipreading.run.build"):
        load_network_weights(net, str(path), ["SPEND", "WORLD", "ABOUT", "THEIR"])
    assert "a new head for this run's 4 classes (the checkpoint has 3); 2 rows of shared words copied, 2" in caplog.text
    state = net.state_dict()
    assert all(torch.equal(state[k], stored[k]) for k in state if not k.startswith("head."))
    for key in fresh:  # SPEND and ABOUT from the checkpoint (its rows 2 and 0), WORLD and THEIR as initialised
        assert torch.equal(state[key][0], stored[key][2]) and torch.equal(state[key][2], stored[key][0])
        assert torch.equal(state[key][1], fresh[key][1]) and torch.equal(state[key][3], fresh[key][3])
    same_size = tiny_net(compose_train, 3)
    load_network_weights(same_size, str(path), ["WORLD", "THEIR", "RIGHT"])  # as many, other words: all new
    assert not torch.equal(same_size.head.weight, stored["head.weight"])
    load_network_weights(same_size, str(path), WORDS)  # the same words: the checkpoint's head
    assert torch.equal(same_size.head.weight, stored["head.weight"])
    with pytest.raises(CheckpointError, match="does not match this model"):  # another architecture still fails
        load_network_weights(tiny_net(compose_train, 3, "model.backend.branch_channels=16"), str(path), ["WORLD"] * 3)


def test_a_frozen_frontend_keeps_its_weights_and_statistics(compose_train):
    task = build_task(compose_train(*TINY_MODEL, "data.num_classes=3", "task.freeze=frontend", "task.scheduler=null"))
    frontend_before = {k: v.clone() for k, v in task.net.frontend.state_dict().items()}
    backend_before = {k: v.clone() for k, v in task.net.backend.state_dict().items()}
    optimizer = task.configure_optimizers()
    assert not any(p.requires_grad for p in task.net.frontend.parameters())
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {
        id(p) for name, p in task.net.named_parameters() if not name.startswith("frontend.")}
    task.train()
    assert not task.net.frontend.training and task.net.backend.training
    video, lengths = torch.randn(4, 1, 29, 44, 44), torch.full((4,), 29)
    F.cross_entropy(task(video, lengths), torch.tensor([0, 1, 2, 0])).backward()
    optimizer.step()
    assert all(torch.equal(v, frontend_before[k]) for k, v in task.net.frontend.state_dict().items())
    assert any(not torch.equal(v, backend_before[k]) for k, v in task.net.backend.state_dict().items())
    with pytest.raises(InstantiationException, match=r"task.freeze='trunk' names no part of the network; its parts: frontend, backend, head"):
        build_task(compose_train(*TINY_MODEL, "data.num_classes=3", "task.freeze=trunk"))


def test_a_lower_frontend_learning_rate_is_its_own_parameter_group(compose_train):
    task = build_task(compose_train(*TINY_MODEL, "data.num_classes=3", "task.frontend_lr_scale=0.1",
                                    "task.scheduler=null", "task.optimizer.lr=0.002"))
    groups = task.configure_optimizers().param_groups
    frontend = {id(p) for p in task.net.frontend.parameters()}
    assert [g["lr"] for g in groups] == pytest.approx([0.0002, 0.002])
    assert {id(p) for p in groups[0]["params"]} == frontend
    assert len(groups[1]["params"]) == sum(1 for name, _ in task.net.named_parameters() if not name.startswith("frontend."))
    with pytest.raises(InstantiationException, match="task.frontend_lr_scale=0.0: use a positive factor"):
        build_task(compose_train(*TINY_MODEL, "data.num_classes=3", "task.frontend_lr_scale=0.0"))


def test_the_synthetic_words_offer_other_words(compose_train):
    data = instantiate(compose_train("data.num_classes=10", "data.first_word=10").data)
    assert data.vocabulary == default_vocabulary(20)[10:] and not set(data.vocabulary) & set(default_vocabulary(10))
