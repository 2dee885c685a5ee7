"""Additive noise at a chosen signal-to-noise ratio, and the batched audio transforms.

Noise kinds: ``white``; ``pink`` (power falling as 1/f, shaped in the frequency domain); ``babble``
(the sum of a few other utterances of the dataset: the other clips of the batch and of the
batches before it). The SNR is the ratio of the clip's power to the noise's, both over the clip's
valid samples. Transforms run batched on the device after transfer, like the video transforms,
on ``float32 (B, N)`` audio with ``(B,)`` valid lengths in samples; they end by standardising each
clip to zero mean and unit variance over its valid samples (padding stays zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lipreading.models.masks import length_mask

NOISE_KINDS = ("white", "pink", "babble")


def valid_samples(lengths: torch.Tensor, num_samples: int) -> torch.Tensor:
    """(B,) lengths -> (B, N) float mask: 1 on a clip's samples, 0 on its padding."""
    return length_mask(lengths, num_samples).float()


def white_noise(shape: tuple[int, int], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Gaussian white noise, unit variance, (B, N)."""
    return torch.randn(shape, generator=generator).to(device)


def pink_noise(shape: tuple[int, int], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Pink (1/f power) noise, unit variance, (B, N): white noise with amplitudes scaled by 1/sqrt(f)."""
    white = torch.randn(shape, generator=generator)
    spectrum = torch.fft.rfft(white, dim=-1)  # (B, N/2 + 1)
    frequencies = torch.arange(spectrum.shape[-1], dtype=torch.float32)
    spectrum = spectrum / frequencies.clamp(min=1.0).sqrt()
    spectrum[:, 0] = 0  # no DC offset
    pink = torch.fft.irfft(spectrum, n=shape[-1], dim=-1)
    return (pink / pink.std(dim=-1, keepdim=True).clamp(min=1e-8)).to(device)


def babble_noise(
    audio: torch.Tensor, lengths: torch.Tensor, bank: torch.Tensor, talkers: int, generator: torch.Generator
) -> torch.Tensor:
    """Each clip's babble: ``talkers`` other utterances (from the batch and ``bank``), each at unit
    power and circularly shifted in time, summed, (B, N). Zero where there is no other utterance."""
    batch, num_samples = audio.shape
    pool = torch.cat([bank.to(audio.device), _unit_power(audio, lengths)], dim=0)  # (K + B, N)
    babble = torch.zeros_like(audio)
    others = pool.shape[0] - 1
    if others == 0:
        return babble
    for b in range(batch):
        own = bank.shape[0] + b
        picks = torch.randint(others, (min(talkers, others),), generator=generator)
        picks = picks + (picks >= own).long()  # never the clip itself
        for pick in picks.tolist():
            shift = int(torch.randint(num_samples, (1,), generator=generator))
            babble[b] += pool[pick].roll(shift)
    return babble


def _unit_power(audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    mask = valid_samples(lengths, audio.shape[1])
    power = (audio.square() * mask).sum(1) / lengths.clamp(min=1)
    return audio * mask / power.clamp(min=1e-10).sqrt()[:, None]


def mix_at_snr(audio: torch.Tensor, noise: torch.Tensor, snr_db: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``audio + g * noise`` with ``g`` per clip such that the SNR over the valid samples is ``snr_db`` (B,)."""
    mask = valid_samples(lengths, audio.shape[1])
    count = lengths.clamp(min=1).float()
    signal_power = (audio.square() * mask).sum(1) / count
    noise_power = ((noise * mask).square()).sum(1) / count
    gain = (signal_power / (noise_power.clamp(min=1e-10) * 10 ** (snr_db / 10))).sqrt()
    return audio + gain[:, None] * noise * mask


def standardise(audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance over each clip's valid samples; padding zero."""
    mask = valid_samples(lengths, audio.shape[1])
    count = lengths.clamp(min=1).float()[:, None]
    mean = (audio * mask).sum(1, keepdim=True) / count
    std = (((audio - mean) * mask).square().sum(1, keepdim=True) / count).sqrt()
    return (audio - mean) / std.clamp(min=1e-5) * mask


class AudioNoise:
    """Adds noise of a random kind at a random SNR to a fraction of the clips, then standardises.

    Training: ``kinds=(white, pink, babble)``, ``snr_db=(-5, 20)``, ``prob=0.5``. Evaluation at
    one condition: one kind, ``snr_db=(s, s)``, ``prob=1`` and a ``seed``, so that every model
    hears the same noise. ``babble_talkers`` utterances make one babble; the last
    ``bank_size`` clips seen are kept as babble material beside the batch's own.
    """

    def __init__(
        self,
        kinds: Sequence[str] = NOISE_KINDS,
        snr_db: Sequence[float] = (-5.0, 20.0),
        prob: float = 0.5,
        babble_talkers: int = 4,
        bank_size: int = 64,
        seed: int | None = None,
    ) -> None:
        unknown = [k for k in kinds if k not in NOISE_KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown noise kinds {unknown or kinds!r}; valid kinds: {', '.join(NOISE_KINDS)}")
        if len(snr_db) != 2 or snr_db[0] > snr_db[1]:
            raise ValueError(f"snr_db={list(snr_db)} must be [low, high] in dB with low <= high")
        self.kinds, self.snr_db, self.prob = list(kinds), (float(snr_db[0]), float(snr_db[1])), prob
        self.babble_talkers, self.bank_size = babble_talkers, bank_size
        self.generator = torch.Generator()
        self.generator.manual_seed(seed if seed is not None else int(torch.initial_seed()) % 2**62)
        self.bank = torch.zeros(0, 0)

    def __call__(self, audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, num_samples = audio.shape
        bank = self._bank(num_samples)
        noisy = torch.rand(batch, generator=self.generator) < self.prob
        kinds = torch.randint(len(self.kinds), (batch,), generator=self.generator)
        low, high = self.snr_db
        snr = (low + (high - low) * torch.rand(batch, generator=self.generator)).to(audio.device)
        noise = torch.zeros_like(audio)
        for index, kind in enumerate(self.kinds):
            chosen = (noisy & (kinds == index)).to(audio.device)
            if not chosen.any():
                continue
            if kind == "babble":
                source = babble_noise(audio, lengths, bank, self.babble_talkers, self.generator)
            else:
                source = (white_noise if kind == "white" else pink_noise)((batch, num_samples), self.generator, audio.device)
            noise[chosen] = source[chosen]
        self.bank = torch.cat([bank, _unit_power(audio, lengths).detach().cpu()])[-self.bank_size :]
        mixed = torch.where(noisy.to(audio.device)[:, None], mix_at_snr(audio, noise, snr, lengths), audio)
        return standardise(mixed, lengths)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The noise generator and the babble bank: what a resumed run needs to add the same noise."""
        return {"generator": self.generator.get_state(), "bank": self.bank.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])
        self.bank = state["bank"].clone()

    def _bank(self, num_samples: int) -> torch.Tensor:
        """The kept clips, cut or zero-padded to ``num_samples``."""
        if self.bank.shape[0] == 0:
            return torch.zeros(0, num_samples)
        bank = self.bank[:, :num_samples]
        return torch.nn.functional.pad(bank, (0, num_samples - bank.shape[1]))


class CleanAudio:
    """No noise: only the standardisation (evaluation on clean audio)."""

    def __call__(self, audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return standardise(audio, lengths)
