from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.classifier import WordClassifierNet
from lipreading.models.frontends.small import SmallFrontend
from lipreading.tasks.word_classification import WordClassificationTask
from lipreading.utils.schedules import warmup_cosine


def _task(num_classes=4, **kwargs):
    backend = partial(TemporalConvNet, branch_channels=32, num_layers=1, dropout=0.0, activation="relu")
    net = WordClassifierNet(SmallFrontend(stem_channels=8, stages=((16, 2), (32, 2))), backend, num_classes)
    return WordClassificationTask(net, optimizer=partial(torch.optim.AdamW, lr=3e-3), **kwargs)


def _batch(num_classes=4, size=8):
    torch.manual_seed(0)
    return {"video": torch.randn(size, 1, 12, 24, 24), "lengths": torch.full((size,), 12),
            "label": torch.arange(size) % num_classes, "path": [str(i) for i in range(size)], "skipped": 0}


def test_overfits_one_batch():
    """The real training step drives the loss on one fixed batch to (near) zero."""
    pl.seed_everything(0)
    task, batch = _task(), _batch()
    optimizer = task.optimizer_factory(params=task.parameters())
    task.log = lambda *a, **k: None
    task.log_dict = lambda *a, **k: None
    first = None
    for _ in range(60):
        loss = task.training_step(batch, 0)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    task.eval()
    with torch.no_grad():
        accuracy = (task(batch["video"], batch["lengths"]).argmax(1) == batch["label"]).float().mean()
    assert loss.item() < 0.1 * first and accuracy == 1.0


def test_mixup_loss_interpolates_between_the_two_labels():
    """Under mixup the net sees lam * x + (1 - lam) * x[perm] (over the longer of the two lengths) and
    the loss is lam * CE(y) + (1 - lam) * CE(y[perm]) of its logits, with lam ~ Beta(alpha, alpha)."""
    task = _task(mixup_alpha=0.4, label_smoothing=0.1).eval()  # eval: no dropout, fixed batch-norm statistics
    task.log = lambda *a, **k: None
    task.log_dict = lambda *a, **k: None
    batch = _batch()
    batch["lengths"] = torch.tensor([12, 5, 12, 9, 12, 12, 7, 12])
    seen = {}
    net_forward = task.net.forward

    def spy(video, lengths, *args, **kwargs):
        seen["video"], seen["lengths"] = video, lengths
        seen["logits"] = net_forward(video, lengths, *args, **kwargs)
        return seen["logits"]

    task.net.forward = spy
    torch.manual_seed(1)
    loss = task.training_step(batch, 0)
    torch.manual_seed(1)  # the same draws, taken the way the task takes them
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    perm = torch.randperm(8)
    assert 0.0 < lam < 1.0 and not torch.equal(perm, torch.arange(8))
    torch.testing.assert_close(seen["video"], lam * batch["video"] + (1 - lam) * batch["video"][perm])
    assert torch.equal(seen["lengths"], torch.maximum(batch["lengths"], batch["lengths"][perm]))
    ce = torch.nn.functional.cross_entropy
    labels, logits = batch["label"], seen["logits"]
    expected = lam * ce(logits, labels, label_smoothing=0.1) + (1 - lam) * ce(logits, labels[perm], label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)
    assert not torch.isclose(loss, ce(logits, labels, label_smoothing=0.1)), "both labels count"


def test_batch_of_only_unreadable_clips_is_skipped():
    task = _task()
    task.log = lambda *a, **k: None
    assert task.training_step({"skipped": 4}, 0) is None


def test_trainer_fit_with_schedule_and_accumulation(tmp_path):
    batch = _batch()
    loader = DataLoader([batch] * 4, batch_size=None)
    task = _task(scheduler=partial(warmup_cosine, warmup_epochs=1.0))
    trainer = pl.Trainer(max_epochs=2, accumulate_grad_batches=2, gradient_clip_val=1.0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, default_root_dir=tmp_path)
    trainer.fit(task, loader)
    assert trainer.global_step == 4
    assert trainer.lr_scheduler_configs[0].scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-9)


def test_warmup_cosine_shape():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = warmup_cosine(optimizer, total_steps=10, steps_per_epoch=2, warmup_epochs=1)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:2] == [0.5, 1.0] and lrs[2] == 1.0 and lrs[-1] < 0.05
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:]))
    with pytest.raises(ValueError, match="warm-up"):
        warmup_cosine(optimizer, total_steps=4, steps_per_epoch=4, warmup_epochs=1)


def test_nonfinite_loss_skips_the_step_then_stops_the_run():
    from lipreading.tasks.guards import NonFiniteLossError

    task = _task(max_nonfinite_steps=3)
    task.log = lambda *a, **k: None
    task.log_dict = lambda *a, **k: None
    bad = {**_batch(), "video": torch.full((8, 1, 12, 24, 24), float("nan"))}
    before = [p.detach().clone() for p in task.parameters()]
    assert task.training_step(bad, 0) is None and task.training_step(bad, 1) is None
    assert torch.isfinite(task.training_step(_batch(), 2)), "a finite loss resets the count"
    assert task.training_step(bad, 3) is None and task.training_step(bad, 4) is None
    with pytest.raises(NonFiniteLossError, match="3 consecutive steps"):
        task.training_step(bad, 5)
    assert all(torch.equal(a, b) for a, b in zip(before, task.parameters())), "no update was made"
