"""SI-SDR and PIT against hand-computed cases; the separation task's losses, metrics and freezing."""

import functools

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from lipreading.tasks.separation import SeparationTask
from lipreading.tasks.separation_losses import (
    best_permutation,
    ideal_masks,
    mask_error,
    mask_pit,
    si_sdr,
    target_estimate,
)
from lipreading.utils.errors import ConfigError
from tests.models.test_separator import tiny_separator


def test_si_sdr_of_hand_computed_cases():
    torch.manual_seed(0)
    target = torch.randn(2, 8000)
    assert (si_sdr(target, target) > 90).all()  # a perfect estimate: (numerically) infinite
    assert (si_sdr(0.3 * target, target) > 90).all()  # scale does not matter
    noise = torch.randn(2, 8000)
    noise = noise - (noise * target).sum(-1, keepdim=True) / target.square().sum(-1, keepdim=True) * target  # orthogonal
    noise = noise / noise.norm(dim=-1, keepdim=True) * target.norm(dim=-1, keepdim=True) / 10 ** 0.5  # -10 dB
    torch.testing.assert_close(si_sdr(target + noise, target), torch.full((2,), 10.0), atol=1e-3, rtol=0)
    padded = torch.nn.functional.pad(target + noise, (0, 500)), torch.nn.functional.pad(target, (0, 500))
    torch.testing.assert_close(si_sdr(*padded), si_sdr(target + noise, target))  # zero padding changes nothing


def test_permutation_invariant_training_finds_the_swapped_outputs():
    torch.manual_seed(0)
    sources = torch.randn(3, 2, 4000)
    estimates = sources.flip(1) + 0.01 * torch.randn(3, 2, 4000)
    score, perm = best_permutation(estimates, sources)
    assert perm.tolist() == [[1, 0]] * 3 and (score > 30).all()
    torch.testing.assert_close(target_estimate(estimates, sources, ordered=False), estimates[:, 1])
    torch.testing.assert_close(target_estimate(estimates, sources, ordered=True), estimates[:, 0])  # no oracle


def test_ideal_masks_recover_the_sources_and_the_mask_loss_is_permutation_invariant():
    net = tiny_separator(av=False)
    sources = torch.randn(2, 2, 20 * 160)
    mixture_spectrum = net.analyse(sources.sum(1))
    source_spectra = net.analyse(sources)
    for kind in ("magnitude", "complex"):
        masks = ideal_masks(source_spectra, mixture_spectrum, kind)
        assert masks.shape == source_spectra.shape
    complex_masks = ideal_masks(source_spectra, mixture_spectrum, "complex", bound=1e9)
    torch.testing.assert_close(complex_masks * mixture_spectrum[:, None], source_spectra, atol=1e-3, rtol=1e-3)
    magnitude = ideal_masks(source_spectra, mixture_spectrum, "magnitude")
    assert magnitude.min() >= 0 and magnitude.max() <= 1
    steps = torch.ones(2, magnitude.shape[-1])
    error, perm = mask_pit(magnitude.flip(1), magnitude, steps)
    assert error.abs().max() < 1e-10 and perm.tolist() == [[1, 0], [1, 0]]


def batch_of(sources: torch.Tensor, frames: int) -> dict:
    return {"mixture": sources.sum(1), "sources": sources, "lengths": torch.full((len(sources),), frames),
            "video": torch.randn(len(sources), 1, frames, 44, 44), "skipped": 0}


@pytest.mark.parametrize("av", [True, False])
@pytest.mark.parametrize("loss", ["si_sdr", "mask"])
def test_task_losses_train_and_evaluate(av, loss, tmp_path):
    """Training steps on one batch lower its loss; evaluation reports SI-SDR and the improvement over the
    mixture (so si_sdr - si_sdri is the mixture's own SI-SDR, whichever output the task picks)."""
    torch.manual_seed(0)
    task = SeparationTask(tiny_separator(av=av), functools.partial(torch.optim.AdamW, lr=3e-3), loss=loss)
    batch = batch_of(torch.randn(2, 2, 20 * 160), 20)
    losses, estimates = task.losses(batch)
    assert torch.isfinite(losses["loss"]) and estimates.shape == (2, 2, 20 * 160)
    losses["loss"].backward()
    assert all(p.grad is not None for p in task.net.unet.parameters())
    trainer = pl.Trainer(max_steps=12, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu")
    trainer.fit(task, DataLoader([batch] * 12, batch_size=None))
    task.eval()
    with torch.no_grad():
        after = task.losses(batch)[0]["loss"]
    assert after < losses["loss"] - 0.05 * abs(losses["loss"]), f"{losses['loss'].item()} -> {after.item()}"
    metrics = trainer.validate(task, DataLoader([batch], batch_size=None), verbose=False)[0]
    mixture_si_sdr = si_sdr(batch["mixture"], batch["sources"][:, 0]).mean()
    assert metrics["val/si_sdr"] - metrics["val/si_sdri"] == pytest.approx(float(mixture_si_sdr), abs=1e-3)
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))


def test_frozen_modules_keep_their_weights_and_statistics():
    task = SeparationTask(tiny_separator(), functools.partial(torch.optim.AdamW, lr=1e-3), frozen=["video_frontend"])
    assert not any(p.requires_grad for p in task.net.video_frontend.parameters())
    task.train()
    assert not task.net.video_frontend.training and task.net.unet.training
    with pytest.raises(ConfigError, match="task.frozen names 'video_frontend', which this audio separator does not have"):
        SeparationTask(tiny_separator(av=False), functools.partial(torch.optim.AdamW), frozen=["video_frontend"])
    with pytest.raises(ConfigError, match="unknown separation loss 'l1'"):
        SeparationTask(tiny_separator(), functools.partial(torch.optim.AdamW), loss="l1")


def test_the_selector_learns_which_output_is_the_target_and_puts_it_first():
    torch.manual_seed(0)
    task = SeparationTask(tiny_separator(), functools.partial(torch.optim.AdamW, lr=1e-3), selection_weight=2.0).eval()
    batch = batch_of(torch.randn(2, 2, 20 * 160), 20)
    masked = task.net.masks(batch["mixture"], batch["lengths"], batch["video"])
    estimates = task.net.reconstruct(masked)
    ordered = task.net.target_first(estimates, masked)
    chosen = masked["selection"].argmax(1)
    for b in range(2):
        torch.testing.assert_close(ordered[b, 0], estimates[b, chosen[b]])
        torch.testing.assert_close(ordered[b, 1], estimates[b, 1 - chosen[b]])
    losses, _ = task.losses(batch)
    _, perm = best_permutation(estimates, batch["sources"])
    expected = torch.nn.functional.cross_entropy(masked["selection"], perm[:, 0])
    torch.testing.assert_close(losses["selection"], expected)
    torch.testing.assert_close(losses["loss"], -losses["si_sdr"] + 2.0 * expected)
    audio_only = SeparationTask(tiny_separator(av=False), functools.partial(torch.optim.AdamW))
    assert "selection" not in audio_only.losses(batch)[0]
    with pytest.raises(ConfigError, match="selection_weight=-1 must be 0 or more"):
        SeparationTask(tiny_separator(), functools.partial(torch.optim.AdamW), selection_weight=-1)


@pytest.mark.parametrize("pit_weight", [0.0, 0.5])
def test_without_a_selector_the_target_must_come_first(pit_weight):
    torch.manual_seed(0)
    task = SeparationTask(tiny_separator(selector=False), functools.partial(torch.optim.AdamW), pit_weight=pit_weight).eval()
    assert task.net.selector is None and task.ordered
    batch = batch_of(torch.randn(3, 2, 20 * 160), 20)
    masked = task.net.masks(batch["mixture"], batch["lengths"], batch["video"])
    assert "selection" not in masked
    estimates = task.net.reconstruct(masked)
    torch.testing.assert_close(task.net.target_first(estimates, masked), estimates)  # the order is the model's
    losses, out = task.losses(batch)
    torch.testing.assert_close(out, estimates)
    in_order = si_sdr(estimates, batch["sources"]).mean(1)  # output s against speaker s
    invariant, perm = best_permutation(estimates, batch["sources"])
    torch.testing.assert_close(losses["loss"], -((1 - pit_weight) * in_order + pit_weight * invariant).mean())
    torch.testing.assert_close(losses["target_first"], (perm[:, 0] == 0).float().mean())
    # The same for the mask loss: the error of output s against speaker s's ideal mask.
    mask_task = SeparationTask(task.net, functools.partial(torch.optim.AdamW), loss="mask", pit_weight=pit_weight).eval()
    ideal = ideal_masks(task.net.analyse(batch["sources"] / masked["rms"][:, :, None]), masked["spectrum"], "magnitude")
    errors = torch.stack([mask_error(masked["masks"][:, s], ideal[:, s], masked["step_mask"]) for s in range(2)], 1)
    pit_error, _ = mask_pit(masked["masks"], ideal, masked["step_mask"])
    expected = ((1 - pit_weight) * errors.mean(1) + pit_weight * pit_error).mean()
    torch.testing.assert_close(mask_task.losses(batch)[0]["loss"], expected)
    with pytest.raises(ConfigError, match="pit_weight=1.5 must be in"):
        SeparationTask(tiny_separator(selector=False), functools.partial(torch.optim.AdamW), pit_weight=1.5)


def test_a_separator_needs_one_output_per_speaker_of_the_mixtures():
    task = SeparationTask(tiny_separator(av=False, num_speakers=2), functools.partial(torch.optim.AdamW))
    with pytest.raises(ConfigError, match="has 2 outputs but the mixtures hold 3 speakers"):
        task.losses(batch_of(torch.randn(2, 3, 20 * 160), 20))
