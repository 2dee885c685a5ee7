"""Word boundaries as one more backend input channel (data.use_boundary), and the design card's example."""

from __future__ import annotations

from functools import partial

import hydra
import pytest
import torch

from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.classifier import WordClassifierNet
from lipreading.models.frontends.small import SmallFrontend


def test_the_design_cards_example_composes(compose_train) -> None:
    """`python train.py model=efficientnet_transformer data=lrw`."""
    cfg = compose_train("model=efficientnet_transformer", "data=lrw")
    assert cfg.model.frontend._target_.endswith("EfficientNetV2Frontend")
    assert list(cfg.model.backend.stages) == ["transformer", "tcn"]
    assert cfg.model.num_classes == 500 and cfg.model.use_boundary is False


@pytest.mark.parametrize("data", ["lrw", "lrw1000", "synthetic_words", "synthetic_words_lrw_geometry"])
def test_data_use_boundary_is_the_one_switch(compose_train, data: str) -> None:
    """data.use_boundary sets the model's flag (and so the backend's input width) by interpolation."""
    assert compose_train(f"data={data}").model.use_boundary is False
    cfg = compose_train("model=small_tcn", f"data={data}", "data.use_boundary=true")
    assert cfg.data.use_boundary is True and cfg.model.use_boundary is True
    if data == "lrw":
        assert hydra.utils.instantiate(cfg.data).use_boundary is True


def _small_net(use_boundary: bool) -> WordClassifierNet:
    backend = partial(TemporalConvNet, branch_channels=8, num_layers=2, dropout=0.0, activation="relu")
    frontend = SmallFrontend(stem_channels=4, stages=((8, 2), (12, 2)))
    return WordClassifierNet(frontend, backend, num_classes=5, use_boundary=use_boundary).eval()


def test_boundary_is_one_more_backend_input_channel_and_changes_the_result() -> None:
    torch.manual_seed(0)
    net = _small_net(use_boundary=True)
    assert net.backend.blocks[0].branches0[0].conv.in_channels == 12 + 1
    video, lengths = torch.randn(1, 1, 9, 24, 24), torch.tensor([9])
    inside = torch.zeros(1, 9)
    inside[0, 3:6] = 1.0
    with torch.inference_mode():
        assert not torch.allclose(net(video, lengths, inside), net(video, lengths, torch.zeros(1, 9)))


def test_boundary_padding_never_changes_a_clip() -> None:
    torch.manual_seed(0)
    net = _small_net(use_boundary=True)
    clip, boundary = torch.randn(1, 1, 7, 24, 24), (torch.arange(7) > 2).float()[None]
    batch, batch_boundary = 5 * torch.randn(2, 1, 12, 24, 24), torch.rand(2, 12)
    batch[0, :, :7], batch_boundary[0, :7] = clip[0], boundary[0]
    with torch.inference_mode():
        alone = net(clip, torch.tensor([7]), boundary)
        padded = net(batch, torch.tensor([7, 12]), batch_boundary)
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=0)


def test_a_boundary_mismatch_between_batches_and_network_names_the_setting() -> None:
    video, lengths = torch.randn(1, 1, 5, 24, 24), torch.tensor([5])
    with pytest.raises(ValueError, match="use_boundary=True but was not given.*data.use_boundary"):
        _small_net(use_boundary=True)(video, lengths)
    with pytest.raises(ValueError, match="use_boundary=False but was given"):
        _small_net(use_boundary=False)(video, lengths, torch.ones(1, 5))


def _batch(with_boundary: bool) -> dict:
    torch.manual_seed(0)
    batch = {"video": torch.randn(4, 1, 9, 24, 24), "lengths": torch.tensor([9, 9, 7, 5]),
             "label": torch.tensor([0, 1, 2, 3]), "path": list("abcd"), "skipped": 0}
    if with_boundary:
        batch["boundary"] = (torch.arange(9)[None] >= torch.tensor([[2], [3], [1], [0]])).float()
    return batch


@pytest.mark.parametrize("mixup_alpha", [0.0, 0.4])
def test_the_task_passes_the_batch_boundary_to_the_net(mixup_alpha: float) -> None:
    from lipreading.tasks.word_classification import WordClassificationTask

    task = WordClassificationTask(_small_net(use_boundary=True), optimizer=torch.optim.AdamW, mixup_alpha=mixup_alpha)
    task.log = task.log_dict = lambda *a, **k: None
    seen = []
    task.net.register_forward_pre_hook(lambda m, args: seen.append(len(args)))
    loss = task.training_step(_batch(with_boundary=True), 0)
    loss.backward()
    task.validation_step(_batch(with_boundary=True), 0)
    assert task.predict_step(_batch(with_boundary=True), 0)["log_probs"].shape == (4, 5)
    assert seen == [3, 3, 3]  # video, lengths, boundary
    with pytest.raises(ValueError, match="data.use_boundary"):
        task.validation_step(_batch(with_boundary=False), 0)


@pytest.mark.parametrize("use_boundary", [False, True])
def test_batches_carry_the_boundary_only_when_the_data_config_says_so(use_boundary: bool) -> None:
    from lipreading.data.datamodules import WordDataModule

    def identity(video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return video

    datamodule = WordDataModule("unused", 4, identity, identity, use_boundary=use_boundary)
    batch = datamodule.on_after_batch_transfer(_batch(with_boundary=True), 0)
    assert ("boundary" in batch) == use_boundary
