"""Audio frontends, fusion and the audio-visual word network (models/frontends/audio.py, fusion.py, audiovisual.py)."""

import pytest
import torch

from lipreading.models.audiovisual import AudioVisualWordNet
from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.frontends.audio import LogMel, LogMelEfficientNetFrontend, ResNet1DFrontend, SpecAugment
from lipreading.models.frontends.small import SmallFrontend
from lipreading.models.fusion import AttentionFusion, ConcatFusion
from lipreading.training import build_task

FRAME = 640


def tiny_resnet1d() -> ResNet1DFrontend:
    return ResNet1DFrontend(layers=(1, 1), widths=(8, 16), activation="prelu", stem_kernel=80, stem_stride=8)


def tiny_logmel() -> LogMelEfficientNetFrontend:
    return LogMelEfficientNetFrontend(
        stages=("ds_r1_k3_s1_e1_c16_se0.25", "ir_r1_k3_s2_e6_c24_se0.25"), width_mult=0.5,
        head_channels=64, num_mels=16, context=4, spec_augment=SpecAugment(1, 3, 1, 3),
    )


def test_raw_waveform_resnet18_mstcn_has_the_reference_parameter_count(compose_train):
    # The reference's audio-only ResNet-18 + MS-TCN with 500 classes: 29.03M parameters.
    cfg = compose_train("data=synthetic_av_words", "model=av_resnet18_mstcn", "modality=audio", "data.num_classes=500")
    net = build_task(cfg).net
    assert net.video_frontend is None and net.modality == "audio"
    assert sum(p.numel() for p in net.parameters()) == 29_031_092
    assert sum(p.numel() for p in net.audio_frontend.parameters()) == 3_852_480


@pytest.mark.parametrize("make", [tiny_resnet1d, tiny_logmel], ids=["resnet1d", "logmel_efficientnet"])
def test_audio_frontends_give_one_vector_per_frame_and_ignore_padding(make):
    torch.manual_seed(0)
    frontend = make().eval()
    audio = torch.randn(2, 12 * FRAME)
    lengths = torch.tensor([12, 7])
    audio[1, 7 * FRAME :] = 0  # as the network zeroes padding
    with torch.no_grad():
        batched = frontend(audio, lengths)
        alone = frontend(audio[1:, : 7 * FRAME], lengths[1:])
    assert batched.shape == (2, 12, frontend.output_dim)
    torch.testing.assert_close(batched[1, :7], alone[0], atol=1e-5, rtol=1e-4)


def test_log_mel_puts_a_tone_in_its_band_and_spec_augment_only_trains():
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(16000) / 16000)[None]
    mel = LogMel(num_mels=40)(tone)  # (1, 40, 100)
    assert mel.shape == (1, 40, 100)
    peak = int(mel[0, :, 50].argmax())
    assert 10 <= peak <= 16  # 1 kHz on the 40-band HTK scale up to 8 kHz: band 13
    augment = SpecAugment(2, 10, 2, 10)
    x = torch.ones(3, 40, 100)
    assert torch.equal(augment.eval()(x), x)
    assert (augment.train()(x) == 0).any()


@pytest.mark.parametrize("fusion", [ConcatFusion(8, 6), AttentionFusion(8, 6, dim=5)], ids=["concat", "attention"])
def test_fusion_of_streams_with_mismatched_lengths_keeps_the_common_frames(fusion):
    video, audio = torch.randn(2, 29, 8), torch.randn(2, 28, 6)  # the audio one frame short
    fused, lengths = fusion.eval()(video, audio, torch.tensor([29, 25]))
    assert fused.shape == (2, 28, fusion.output_dim) and lengths.tolist() == [28, 25]
    if isinstance(fusion, ConcatFusion):
        torch.testing.assert_close(fused[..., :8], video[:, :28])


def test_modality_dropout_hides_one_whole_stream_in_training_only():
    fusion = ConcatFusion(4, 4, modality_dropout=1.0).train()
    video, audio = torch.ones(64, 5, 4), torch.ones(64, 5, 4)
    fused, _ = fusion(video, audio, torch.full((64,), 5))
    video_kept, audio_kept = fused[..., :4].abs().sum((1, 2)) > 0, fused[..., 4:].abs().sum((1, 2)) > 0
    assert torch.all(video_kept ^ audio_kept) and video_kept.any() and audio_kept.any()
    fused, _ = fusion.eval()(video, audio, torch.full((64,), 5))
    assert torch.all(fused == 1)
    attention = AttentionFusion(4, 4, dim=3, modality_dropout=1.0).train()
    out, _ = attention(torch.randn(8, 5, 4), torch.randn(8, 5, 4), torch.full((8,), 5))
    assert torch.isfinite(out).all()


def _av_net() -> AudioVisualWordNet:
    backend = lambda input_dim: TemporalConvNet(input_dim, kernel_sizes=(3,), branch_channels=16, num_layers=1)  # noqa: E731
    video = SmallFrontend(stem_channels=4, stages=((8, 2),))
    return AudioVisualWordNet(backend, num_classes=5, video_frontend=video, audio_frontend=tiny_resnet1d(),
                              fusion=lambda video_dim, audio_dim: ConcatFusion(video_dim, audio_dim))


def test_audio_visual_net_ignores_padding_and_needs_its_audio():
    torch.manual_seed(0)
    net = _av_net().eval()
    video, audio = torch.randn(2, 1, 12, 16, 16), torch.randn(2, 12 * FRAME)
    lengths = torch.tensor([12, 8])
    with torch.no_grad():
        batched = net(video, lengths, audio=audio)
        alone = net(video[1:, :, :8], lengths[1:], audio=audio[1:, : 8 * FRAME])
    torch.testing.assert_close(batched[1], alone[0], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="needs the audio"):
        net(video, lengths)
