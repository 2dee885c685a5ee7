"""Audio frontends, fusion and the audio-visual word network (models/frontends/audio.py, fusion.py, audiovisual.py)."""

import pytest
import torch

from lipreading.models.audiovisual import AudioVisualWordNet
from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.frontends.audio import LogMel, LogMelEfficientNetFrontend, ResNet1DFrontend, SpecAugment
from lipreading.models.frontends.small import SmallFrontend
from lipreading.models.fusion import AttentionFusion, ConcatFusion
from lipreading.run.build import build_task

FRAME = 640


def tiny_resnet1d(pool_context: int = 1) -> ResNet1DFrontend:
    return ResNet1DFrontend(layers=(1, 1), widths=(8, 16), activation="prelu", stem_kernel=80, stem_stride=8,
                            pool_context=pool_context)


def tiny_logmel() -> LogMelEfficientNetFrontend:
    return LogMelEfficientNetFrontend(
        stages=("ds_r1_k3_s1_e1_c16_se0.25", "ir_r1_k3_s2_e6_c24_se0.25"), width_mult=0.5,
        head_channels=64, num_mels=16, context=4, spec_augment=SpecAugment(1, 3, 1, 3),
    )


def test_raw_waveform_resnet18_mstcn_has_the_reference_parameter_count(compose_train):
    # The reference's audio-only ResNet-18 + MS-TCN (lrw_resnet18_mstcn.json, Swish) with 500 classes.
    cfg = compose_train("data=synthetic_av_words", "model=av_resnet18_mstcn", "modality=audio", "data.num_classes=500")
    net = build_task(cfg).net
    assert net.video_frontend is None and net.modality == "audio"
    assert sum(p.numel() for p in net.parameters()) == 29_027_188
    assert sum(p.numel() for p in net.audio_frontend.parameters()) == 3_848_576


@pytest.mark.parametrize("make", [tiny_resnet1d, lambda: tiny_resnet1d(pool_context=0), tiny_logmel],
                         ids=["resnet1d", "resnet1d_reference_pool", "logmel_efficientnet"])
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


def test_reference_frame_pool_averages_each_frames_own_steps_only():
    # pool_context=0 is the reference's AvgPool1d(steps, stride=steps): frame t's vector is the mean of its steps.
    frontend = tiny_resnet1d(pool_context=0)
    steps = torch.randn(1, 16, 3 * 40)  # 640 samples / (stem stride 8 * 2) = 40 steps per frame
    torch.testing.assert_close(frontend.pool(steps), steps.reshape(1, 16, 3, 40).mean(-1))
    with pytest.raises(ValueError, match="pool_context=21"):
        tiny_resnet1d(pool_context=21)


def test_audio_net_takes_the_word_boundary_as_one_more_channel_and_ignores_padding():
    torch.manual_seed(0)
    backend = lambda input_dim: TemporalConvNet(input_dim, kernel_sizes=(3,), branch_channels=8, num_layers=1)  # noqa: E731
    net = AudioVisualWordNet(backend, num_classes=5, audio_frontend=tiny_resnet1d(), use_boundary=True).eval()
    assert net.backend.blocks[0].branches0[0].conv.in_channels == net.audio_frontend.output_dim + 1
    audio, lengths = torch.randn(2, 12 * FRAME), torch.tensor([12, 8])
    boundary = torch.zeros(2, 12)
    boundary[:, 3:7] = 1
    video = torch.zeros(2, 1, 12, 1, 1)
    with torch.no_grad():
        batched = net(video, lengths, boundary, audio=audio)
        alone = net(video[1:, :, :8], lengths[1:], boundary[1:, :8], audio=audio[1:, : 8 * FRAME])
        moved = net(video, lengths, torch.roll(boundary, 3, 1), audio=audio)
    torch.testing.assert_close(batched[1], alone[0], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(batched, moved)  # the boundary reaches the backend
    with pytest.raises(ValueError, match="use_boundary=True but was not given a boundary"):
        net(video, lengths, audio=audio)
