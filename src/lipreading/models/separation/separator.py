"""Speech separation by spectrogram masking, guided by the target speaker's mouth (or audio only).

After VisualVoice (R. Gao and K. Grauman, CVPR 2021; reference: github.com/facebookresearch/VisualVoice):
the mixture's STFT feeds a U-Net (:class:`~lipreading.models.separation.unet.ConditionedUNet`) whose
bottleneck also receives the target's lip-motion features (a lipreading frontend and temporal
backend over the mouth video) and, optionally, a face-appearance embedding averaged over k frames
(:class:`~lipreading.models.separation.appearance.AppearanceEncoder`); the U-Net predicts the
target's mask (magnitude, or complex), applied to the mixture's STFT and inverted.

The network predicts one mask per speaker (``num_speakers``), trained with permutation-invariant
training (Yu et al., ICASSP 2017); with the video, the visual condition guides the masks and a
selector picks the voice that matches the lips as the target. Without a video frontend the same
network is the audio-only baseline, which cannot know which of its outputs is the target.
NOTE: the mixture is scaled to unit RMS before the STFT and the estimates scaled back, so the model
is scale-equivariant; VisualVoice normalises the mixture's waveform the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lipreading.models.backends.tcn import valid_mask
from lipreading.models.masks import length_mask, zero_padded_frames
from lipreading.models.separation.selector import TargetSelector

MASKS = ("magnitude", "complex")


def _clip_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """The mean (B, 1, 1) of ``x`` (B, bands, T) over each clip's valid frames (``valid``: (B, 1, T)) and every band."""
    return (x * valid).sum((1, 2), keepdim=True) / (valid.sum((1, 2), keepdim=True) * x.shape[1]).clamp(min=1)


class AudioVisualSeparator(nn.Module):
    """mixture (B, N), lengths (B,) in video frames [, video (B, C, T, H, W)] -> estimates (B, S, N).

    ``S`` is ``num_speakers``. The masks separate every voice (in no particular order, trained
    permutation-invariantly); an audio-visual model then puts first the voice that its
    :class:`~lipreading.models.separation.selector.TargetSelector` matches to the video (the target),
    an audio-only model cannot tell and leaves the order as it is. ``unet`` is a factory ``(in_channels, out_channels, num_frequencies,
    condition_dim) -> ConditionedUNet``; ``video_backend`` a factory ``(input_dim) -> module`` over
    (B, T, D), lengths. Samples beyond ``lengths * samples_per_frame`` are zero in the estimates.
    """

    def __init__(
        self,
        unet: Callable[..., nn.Module],
        video_frontend: nn.Module | None = None,
        video_backend: Callable[..., nn.Module] | None = None,
        appearance: nn.Module | None = None,
        num_speakers: int = 2,
        mask: str = "magnitude",
        n_fft: int = 512,
        hop_length: int = 160,
        win_length: int = 400,
        samples_per_frame: int = 640,
        selector_dim: int = 64,
        target_selector: bool = True,
        visual_prior: bool = False,
        prior_bands: int = 32,
    ) -> None:
        super().__init__()
        if mask not in MASKS:
            raise ValueError(f"unknown mask {mask!r}; valid masks: {', '.join(MASKS)}")
        if appearance is not None and video_frontend is None:
            raise ValueError("a face-appearance encoder needs the video stream (a video_frontend)")
        self.video_frontend = video_frontend
        self.video_backend = None
        condition_dim = 0
        if video_frontend is not None:
            self.video_backend = video_backend(input_dim=video_frontend.output_dim) if video_backend else None
            condition_dim = (self.video_backend or video_frontend).output_dim
        self.appearance = appearance
        if appearance is not None:
            condition_dim += appearance.output_dim
        self.num_speakers, self.mask = num_speakers, mask
        self.num_outputs = num_speakers
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.samples_per_frame = samples_per_frame
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        in_channels = 1 if mask == "magnitude" else 3
        self.mask_channels = 1 if mask == "magnitude" else 2
        if visual_prior and not condition_dim:
            raise ValueError("a visual prior needs the video stream (a video_frontend)")
        if visual_prior and ((n_fft // 2) % prior_bands or (samples_per_frame // 2) % prior_bands):
            raise ValueError(f"prior_bands={prior_bands} must divide n_fft / 2 = {n_fft // 2} and samples_per_frame / 2 = {samples_per_frame // 2}")
        self.prior_bands = prior_bands
        self.prior_head = None
        if visual_prior:
            # The target's log band energies, one spectrum per video frame, predicted from the lips:
            # a second input channel of the U-Net, where the mixture's own bins can be compared with it.
            self.prior_head = nn.Sequential(
                nn.Conv1d(condition_dim, selector_dim, 3, padding=1), nn.ReLU(inplace=True),
                nn.Conv1d(selector_dim, prior_bands, 1),
            )
            in_channels += 1
        self.input_norm = nn.BatchNorm2d(in_channels)
        # The Nyquist bin is left out of the U-Net (n_fft / 2 bins halve cleanly); its mask is 0.
        self.unet = unet(
            in_channels=in_channels,
            out_channels=self.num_outputs * self.mask_channels,
            num_frequencies=n_fft // 2,
            condition_dim=condition_dim,
        )
        self.selector = (
            TargetSelector(condition_dim, self.unet.time_factor, hidden=selector_dim)
            if condition_dim and target_selector else None
        )

    @property
    def modality(self) -> str:
        """'av' when the target's mouth guides the separation, else 'audio'."""
        return "av" if self.video_frontend is not None else "audio"

    def stft(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, N) -> complex (B, n_fft/2 + 1, N / hop + 1)."""
        return torch.stft(waveform, self.n_fft, self.hop_length, self.win_length, self.window,
                          center=True, pad_mode="constant", return_complex=True)

    def istft(self, spectrum: torch.Tensor, length: int) -> torch.Tensor:
        """complex (..., F, T) -> (..., length)."""
        shape = spectrum.shape[:-2]
        waveform = torch.istft(spectrum.reshape(-1, *spectrum.shape[-2:]), self.n_fft, self.hop_length,
                               self.win_length, self.window, center=True, length=length)
        return waveform.reshape(*shape, length)

    def forward(self, mixture: torch.Tensor, lengths: torch.Tensor, video: torch.Tensor | None = None) -> torch.Tensor:
        masked = self.masks(mixture, lengths, video)
        return self.target_first(self.reconstruct(masked), masked)

    def target_first(self, estimates: torch.Tensor, masked: dict[str, torch.Tensor]) -> torch.Tensor:
        """``estimates`` (B, S, N) with the voice the selector matched to the video first (the others
        keep their order); unchanged for an audio-only model."""
        if "selection" not in masked:
            return estimates
        chosen = masked["selection"].argmax(1)  # (B,)
        outputs = torch.arange(estimates.shape[1], device=estimates.device)[None, :].expand(len(chosen), -1)
        others = outputs[outputs != chosen[:, None]].reshape(len(chosen), -1)
        order = torch.cat([chosen[:, None], others], dim=1)  # (B, S)
        return estimates[torch.arange(len(chosen), device=estimates.device)[:, None], order]

    def masks(self, mixture: torch.Tensor, lengths: torch.Tensor, video: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The predicted masks (B, S, F + 1, T_s) with what :meth:`reconstruct` and a mask loss need:
        the normalised mixture's ``spectrum``, its ``rms``, the valid ``step_mask`` and ``sample_mask``;
        with the video, the selector's ``selection`` logits (B, S): which output is the target."""
        if self.video_frontend is not None and video is None:
            raise ValueError("this audio-visual separator needs the target's mouth video")
        num_samples = mixture.shape[1]
        valid_samples = lengths * self.samples_per_frame
        sample_mask = length_mask(valid_samples, num_samples).to(mixture.dtype)
        mixture = mixture * sample_mask  # (B, N)
        rms = (mixture.square().sum(1) / sample_mask.sum(1).clamp(min=1)).sqrt().clamp(min=1e-5)[:, None]
        spectrum = self.analyse(mixture / rms)  # (B, N) -> (B, F + 1, T_s)
        steps = spectrum.shape[-1]
        half = self.n_fft // 2
        valid_steps = torch.div(valid_samples + half - 1, self.hop_length, rounding_mode="floor") + 1
        step_mask = length_mask(valid_steps, steps).to(mixture.dtype)
        condition, prior = None, None
        if video is not None:
            frames = self._frame_condition(video, lengths)  # (B, D, T_v)
            condition = self._at_steps(frames, lengths, self.unet.bottleneck_steps(steps), self.unet.time_factor)
            if self.prior_head is not None:
                valid = valid_mask(lengths, frames.shape[-1], frames.dtype)
                prior = self.prior_head(frames * valid) * valid  # (B, bands, T_v), padding zero on both sides
        features = self._features(spectrum[:, :-1], prior, lengths) * step_mask[:, None, None]  # (B, C_in, F, T_s)
        raw = self.unet(features, valid_steps, condition)  # (B, S * mask_channels, F, T_s)
        raw = raw.reshape(raw.shape[0], self.num_outputs, self.mask_channels, *raw.shape[-2:])
        masks = self._masks(raw) * step_mask[:, None, None]  # (B, S, F, T_s), complex or real
        masked = {"spectrum": spectrum, "rms": rms, "step_mask": step_mask, "sample_mask": sample_mask}
        if prior is not None:
            masked["prior"] = prior
        if self.selector is not None:
            # Which separated voice the video shows (scored on the separated magnitudes, not trained through them).
            voices = (masks * spectrum[:, None, :-1]).abs().detach()  # (B, S, F, T_s)
            masked["selection"] = self.selector(voices, condition, step_mask)  # (B, S) logits
        masked["masks"] = torch.nn.functional.pad(masks, (0, 0, 0, 1))  # the Nyquist bin: 0
        return masked

    def analyse(self, waveform: torch.Tensor) -> torch.Tensor:
        """(..., N) -> complex (..., F + 1, T_s), framed as the mixture is (half a window of zeros
        after the end, so the frames that overlap a clip's last samples exist whatever the padding)."""
        shape = waveform.shape[:-1]
        padded = torch.nn.functional.pad(waveform.reshape(-1, waveform.shape[-1]), (0, self.n_fft // 2))
        spectrum = self.stft(padded)
        return spectrum.reshape(*shape, *spectrum.shape[-2:])

    def reconstruct(self, masked: dict[str, torch.Tensor]) -> torch.Tensor:
        """The estimates (B, S, N) of :meth:`masks`' output: masked mixture, inverse STFT, original scale."""
        sample_mask = masked["sample_mask"]
        num_samples = sample_mask.shape[1]
        spectra = masked["masks"] * masked["spectrum"][:, None]  # (B, S, F + 1, T_s)
        estimates = self.istft(spectra, num_samples + self.n_fft // 2)[..., :num_samples]  # (B, S, N)
        return estimates * masked["rms"][:, None] * sample_mask[:, None]

    def frame_band_energies(self, waveform: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, N) -> log band energies (B, prior_bands, T_v), one spectrum per video frame (its
        ``samples_per_frame`` samples, Hann-windowed), ``prior_bands`` bands of equal width from 0 Hz
        to Nyquist (as the U-Net's bins are grouped), each clip's mean over its valid frames and bands subtracted (so the level does not
        matter); what the visual prior predicts."""
        frames = waveform.shape[1] // self.samples_per_frame
        segments = waveform[:, : frames * self.samples_per_frame].reshape(len(waveform), frames, self.samples_per_frame)
        window = torch.hann_window(self.samples_per_frame, device=waveform.device, dtype=waveform.dtype)
        power = torch.fft.rfft(segments * window, n=self.samples_per_frame).abs().square()  # (B, T_v, spf/2 + 1)
        top = self.samples_per_frame // 2  # 0 Hz up to Nyquist (left out), as the U-Net's bins
        bands = power[..., :top].reshape(len(waveform), frames, self.prior_bands, -1).mean(-1).transpose(1, 2)
        valid = valid_mask(lengths, frames, waveform.dtype)
        # A floor 40 dB under the clip's mean band power: silence does not dominate, the level is irrelevant.
        log_bands = torch.log(bands + 1e-4 * _clip_mean(bands, valid) + 1e-20)  # (B, bands, T_v)
        return (log_bands - _clip_mean(log_bands, valid)) * valid

    def _features(self, spectrum: torch.Tensor, prior: torch.Tensor | None = None,
                  lengths: torch.Tensor | None = None) -> torch.Tensor:
        magnitude = spectrum.abs()
        channels = [torch.log(magnitude + 1e-4)[:, None]]  # (B, 1, F, T)
        if self.mask == "complex":
            phase = spectrum / (magnitude + 1e-8)
            channels += [phase.real[:, None], phase.imag[:, None]]
        if self.prior_head is not None:
            # Each STFT step takes its video frame's prior, each bin its band's.
            prior = self._at_steps(prior, lengths, spectrum.shape[-1], 1)  # (B, bands, T_s)
            prior = prior.repeat_interleave(spectrum.shape[1] // self.prior_bands, dim=1)  # (B, F, T_s)
            channels.append(prior[:, None])
        return self.input_norm(torch.cat(channels, dim=1))

    def _masks(self, raw: torch.Tensor) -> torch.Tensor:
        if self.mask == "magnitude":
            return torch.sigmoid(raw[:, :, 0])  # (B, S, F, T) in [0, 1]
        # A bounded complex mask (|real|, |imag| < 2): the target may exceed the mixture in a bin.
        bounded = 2 * torch.tanh(raw)
        return torch.complex(bounded[:, :, 0], bounded[:, :, 1])

    def _frame_condition(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The visual condition, one vector per video frame: (B, D, T_v)."""
        video = zero_padded_frames(video, lengths)  # (B, C, T, H, W), frames beyond each clip zeroed
        features = self.video_frontend(video, lengths)  # (B, C, T, H, W) -> (B, T, Dv)
        if self.video_backend is not None:
            features = self.video_backend(features, lengths)  # (B, T, Dv) -> (B, T, D)
        if self.appearance is not None:
            embedding = self.appearance(video, lengths)  # (B, Da)
            features = torch.cat([features, embedding[:, None].expand(-1, features.shape[1], -1)], dim=-1)
        return features.transpose(1, 2)  # (B, T, D) -> (B, D, T)

    def _at_steps(self, frames: torch.Tensor, lengths: torch.Tensor, steps: int, time_factor: int) -> torch.Tensor:
        """(B, D, T_v) per video frame -> (B, D, steps), steps of ``time_factor`` STFT hops each."""
        # Step j covers samples from j * time_factor * hop: the frame that holds them.
        step_samples = time_factor * self.hop_length
        frame_of_step = (torch.arange(steps, device=frames.device) * step_samples) // self.samples_per_frame
        frame_of_step = frame_of_step[None, :].minimum(lengths[:, None] - 1).clamp(min=0)  # (B, steps), within the clip
        return frames.gather(2, frame_of_step[:, None, :].expand(-1, frames.shape[1], -1))
