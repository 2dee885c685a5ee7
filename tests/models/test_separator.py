"""The separator network: STFT round trip, output shapes for any length, padding, masks, streams."""

import functools

import pytest
import torch

from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.frontends.small import SmallFrontend
from lipreading.models.separation.appearance import AppearanceEncoder
from lipreading.models.separation.separator import AudioVisualSeparator
from lipreading.models.separation.unet import ConditionedUNet

TINY_UNET = functools.partial(ConditionedUNet, channels=(4, 8, 8), time_strides=(1, 2, 2), bottleneck_dim=16,
                              temporal_layers=2)
TINY_BACKEND = functools.partial(TemporalConvNet, branch_channels=8, num_layers=1, dropout=0.0, activation="relu")


def tiny_separator(av: bool = True, appearance: bool = False, mask: str = "magnitude", num_speakers: int = 2,
                   selector: bool = True, prior: bool = False):
    torch.manual_seed(0)
    frontend = SmallFrontend(stem_channels=4, stages=((8, 2), (8, 2))) if av else None
    return AudioVisualSeparator(
        TINY_UNET, frontend, TINY_BACKEND if av else None,
        AppearanceEncoder(channels=(4, 8), embedding_dim=4, num_frames=3) if appearance else None,
        num_speakers=num_speakers, mask=mask, n_fft=128, hop_length=40, win_length=100, samples_per_frame=160,
        target_selector=selector, visual_prior=prior, prior_bands=16,
    )


def test_stft_and_inverse_stft_round_trip():
    net = tiny_separator()
    waveform = torch.randn(3, 29 * 160)
    restored = net.istft(net.analyse(waveform), waveform.shape[1] + net.n_fft // 2)[..., : waveform.shape[1]]
    torch.testing.assert_close(restored, waveform, atol=1e-5, rtol=1e-5)


def test_an_all_pass_mask_returns_the_mixture():
    net = tiny_separator(av=False)
    mixture, lengths = torch.randn(2, 20 * 160), torch.tensor([20, 20])
    masked = net.masks(mixture, lengths)
    assert masked["masks"][:, :, -1].abs().max() == 0  # the Nyquist bin is not predicted
    masked["masks"] = torch.ones_like(masked["masks"])
    torch.testing.assert_close(net.reconstruct(masked), mixture[:, None].expand(-1, 2, -1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mask", ["magnitude", "complex"])
@pytest.mark.parametrize("av,appearance,prior", [(True, False, False), (True, True, False), (True, False, True), (False, False, False)])
def test_shapes_for_any_length_and_padding_never_changes_a_clip(mask, av, appearance, prior):
    net = tiny_separator(av, appearance, mask, prior=prior).eval()
    outputs = 2
    for frames in (7, 13, 29):  # lengths that do not divide the U-Net's strides
        video = torch.randn(1, 1, frames, 44, 44)
        out = net(torch.randn(1, frames * 160), torch.tensor([frames]), video if av else None)
        assert out.shape == (1, outputs, frames * 160)
    mixture, video = torch.randn(2, 29 * 160), torch.randn(2, 1, 29, 44, 44)
    with torch.no_grad():
        batch = net(mixture, torch.tensor([29, 17]), video if av else None)
        alone = net(mixture[1:, : 17 * 160], torch.tensor([17]), video[1:, :, :17] if av else None)
    torch.testing.assert_close(batch[1, :, : 17 * 160], alone[0], atol=1e-5, rtol=1e-4)
    assert batch[1, :, 17 * 160 :].abs().max() == 0


@pytest.mark.parametrize("grad", [False, True])  # no_grad in eval takes PyTorch's fast attention path
def test_self_attention_over_the_fused_features_never_sees_the_padding(grad):
    torch.manual_seed(0)
    unet = functools.partial(TINY_UNET, fusion_attention=2, attention_heads=2)
    net = AudioVisualSeparator(unet, SmallFrontend(stem_channels=4, stages=((8, 2), (8, 2))), TINY_BACKEND,
                               n_fft=128, hop_length=40, win_length=100, samples_per_frame=160).eval()
    assert len(net.unet.attention) == 2
    mixture, video = torch.randn(2, 29 * 160), torch.randn(2, 1, 29, 44, 44)
    mixture[0, 17 * 160 :] = 100 * torch.randn(12 * 160)  # loud padding
    with torch.set_grad_enabled(grad):
        batch = net(mixture, torch.tensor([17, 29]), video)
        alone = net(mixture[:1, : 17 * 160], torch.tensor([17]), video[:1, :, :17])
    torch.testing.assert_close(batch[0, :, : 17 * 160], alone[0], atol=1e-5, rtol=1e-4)
    if grad:  # the attention layers are on the estimates' path
        batch.square().mean().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.unet.attention.parameters())
    with pytest.raises(ValueError, match="multiple of attention_heads"):
        TINY_UNET(1, 2, 64, fusion_attention=1, attention_heads=3)


def test_the_estimates_scale_with_the_mixture():
    net = tiny_separator().eval()
    mixture, video, lengths = torch.randn(1, 20 * 160), torch.randn(1, 1, 20, 44, 44), torch.tensor([20])
    with torch.no_grad():
        torch.testing.assert_close(net(3 * mixture, lengths, video), 3 * net(mixture, lengths, video), atol=1e-5, rtol=1e-4)


def test_the_video_guides_the_audio_visual_model():
    net = tiny_separator().eval()
    mixture, lengths = torch.randn(1, 20 * 160), torch.tensor([20])
    with torch.no_grad():
        one = net(mixture, lengths, torch.randn(1, 1, 20, 44, 44))
        other = net(mixture, lengths, torch.randn(1, 1, 20, 44, 44))
    assert (one - other).abs().max() > 1e-6
    net.train()
    net(mixture, lengths, torch.randn(1, 1, 20, 44, 44)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.video_frontend.parameters())
    with pytest.raises(ValueError, match="needs the target's mouth video"):
        net(mixture, lengths)


def test_the_visual_prior_targets_are_the_band_energies_of_each_video_frame():
    net = tiny_separator(prior=True).eval()  # 160 samples per frame: 80 bins of 100 Hz, 16 bands of 5 bins
    t = torch.arange(20 * 160) / 16000
    tone = torch.sin(2 * torch.pi * 3250 * t)  # bin 32.5: band 6
    tone[10 * 160 :] = 0.0  # silent after frame 10
    waveform = torch.stack([tone, 0.01 * tone])
    energies = net.frame_band_energies(waveform, torch.tensor([20, 20]))
    assert energies.shape == (2, 16, 20)
    assert (energies[:, :, :10].argmax(1) == 6).all()
    torch.testing.assert_close(energies[0], energies[1], atol=1e-4, rtol=0)  # the level does not matter
    assert energies[0, :, 10:].max() < energies[0, 6, :10].min() - 5  # silence lies far under the tone
    padded = net.frame_band_energies(waveform, torch.tensor([20, 12]))
    torch.testing.assert_close(padded[1, :, :12], net.frame_band_energies(waveform[1:, : 12 * 160], torch.tensor([12]))[0])
    assert padded[1, :, 12:].abs().max() == 0  # padding is zero and changes nothing
    masked = net.masks(waveform, torch.tensor([20, 12]), torch.randn(2, 1, 20, 44, 44))
    assert masked["prior"].shape == (2, 16, 20) and masked["prior"][1, :, 12:].abs().max() == 0
    assert net.input_norm.num_features == 2  # the mixture's log magnitude and the prior
    with pytest.raises(ValueError, match="a visual prior needs the video stream"):
        tiny_separator(av=False, prior=True)


def test_audio_only_model_has_one_output_per_speaker_and_bad_settings_are_named():
    assert tiny_separator(av=False, num_speakers=3).num_outputs == 3
    assert tiny_separator(av=True, num_speakers=3).num_outputs == 3  # the target first
    with pytest.raises(ValueError, match="unknown mask 'phase'; valid masks: magnitude, complex"):
        tiny_separator(mask="phase")
    with pytest.raises(ValueError, match="do not halve"):
        ConditionedUNet(1, 1, num_frequencies=100, channels=(4, 8, 8), time_strides=(1, 1, 1))


def test_appearance_frames_are_random_in_training_and_fixed_in_evaluation():
    encoder = AppearanceEncoder(channels=(4,), embedding_dim=4, num_frames=4)
    lengths = torch.tensor([29, 5])
    encoder.eval()
    torch.testing.assert_close(encoder.frame_indices(lengths), encoder.frame_indices(lengths))
    assert encoder.frame_indices(lengths)[1].max() < 5
    encoder.train()
    draws = torch.stack([encoder.frame_indices(lengths) for _ in range(20)])
    assert draws[:, 0].unique().numel() > 4 and draws[:, 1].max() < 5


def test_the_selector_learns_to_match_a_voice_to_the_lip_motion():
    """Toy audio-visual synchrony: the target's loudness follows the 'lips' (the condition); the selector
    must learn to pick that voice among two, whichever output it is in."""
    from lipreading.models.separation.selector import TargetSelector

    torch.manual_seed(0)
    selector = TargetSelector(condition_dim=1, time_factor=4, num_bands=4, hidden=8)
    optimizer = torch.optim.Adam(selector.parameters(), lr=1e-2)

    def batch(size: int = 32):
        lips = (torch.rand(size, 1, 10) > 0.5).float()  # mouth open or closed at each of 10 steps
        other = (torch.rand(size, 1, 10) > 0.5).float()
        envelopes = torch.stack([lips, other], 1).repeat_interleave(4, -1)  # (B, 2, 1, 40)
        voices = 0.01 + envelopes * torch.rand(size, 2, 8, 40)  # (B, S, F, T_s)
        target = torch.randint(2, (size,))
        voices[target == 1] = voices[target == 1].flip(1)  # the target's voice is output `target`
        return voices, lips, target

    steps = torch.ones(32, 40)
    for _ in range(150):
        voices, lips, target = batch()
        loss = torch.nn.functional.cross_entropy(selector(voices, lips, steps), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    voices, lips, target = batch()
    accuracy = (selector(voices, lips, steps).argmax(1) == target).float().mean()
    assert accuracy > 0.9
