"""Temporal pooling heads: the masked mean and attention over time, in the word and audio-visual classifiers."""

from __future__ import annotations

from functools import partial

import torch

from lipreading.models.audiovisual import AudioVisualWordNet
from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.classifier import WordClassifierNet
from lipreading.models.frontends.audio import ResNet1DFrontend
from lipreading.models.frontends.small import SmallFrontend
from lipreading.models.fusion import ConcatFusion
from lipreading.models.pooling import AttentionPooling, MeanPooling, masked_mean

TINY_TCN = partial(TemporalConvNet, branch_channels=8, num_layers=1, dropout=0.0, activation="relu")


def _trained_scorer(pooling: AttentionPooling) -> AttentionPooling:
    """Non-zero scorer weights (a fresh one starts uniform), so the weights differ from frame to frame."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in pooling.parameters():
            p.normal_()
    return pooling


def test_masked_mean_ignores_padding() -> None:
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(x, torch.tensor([2])).item() == 2.0
    assert MeanPooling(1)(x, torch.tensor([2])).item() == 2.0


def test_attention_weights_are_a_distribution_over_the_valid_frames_only() -> None:
    pooling = _trained_scorer(AttentionPooling(6, hidden_dim=4))
    x = torch.randn(3, 7, 6)
    weights = pooling.weights(x, torch.tensor([7, 4, 1]))
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert (weights[1, 4:] == 0).all() and (weights[2, 1:] == 0).all() and weights[2, 0] == 1
    assert weights[0].std() > 0  # not the mean: the frames get different weights


def test_attention_pooling_starts_as_the_mean_and_learns_its_scores() -> None:
    pooling = AttentionPooling(6, hidden_dim=4)
    x, lengths = torch.randn(2, 5, 6), torch.tensor([5, 3])
    torch.testing.assert_close(pooling(x, lengths), masked_mean(x, lengths))
    (pooling(x, lengths) * torch.randn(2, 6)).sum().backward()
    assert pooling.score[2].weight.grad.abs().sum() > 0


def test_padding_never_changes_a_clips_pooled_features() -> None:
    pooling = _trained_scorer(AttentionPooling(6, hidden_dim=4)).double()
    clip = torch.randn(1, 4, 6, dtype=torch.float64)
    batch = 100 * torch.randn(2, 9, 6, dtype=torch.float64)
    batch[1, :4] = clip[0]
    torch.testing.assert_close(pooling(batch, torch.tensor([9, 4]))[1], pooling(clip, torch.tensor([4]))[0])


def test_word_classifier_with_attention_pooling_is_padding_invariant() -> None:
    torch.manual_seed(0)
    net = WordClassifierNet(SmallFrontend(stem_channels=4, stages=((8, 2),)), TINY_TCN, 5,
                            pooling=partial(AttentionPooling, hidden_dim=4))
    _trained_scorer(net.pooling)
    net = net.double().eval()
    clip = torch.randn(1, 1, 6, 32, 32, dtype=torch.float64)
    batch = 5 * torch.randn(2, 1, 10, 32, 32, dtype=torch.float64)
    batch[0, :, :6] = clip[0]
    with torch.inference_mode():
        torch.testing.assert_close(net(batch, torch.tensor([6, 10]))[0], net(clip, torch.tensor([6]))[0])


def test_audio_visual_net_with_attention_pooling_is_padding_invariant() -> None:
    torch.manual_seed(0)
    net = AudioVisualWordNet(
        TINY_TCN, 5, video_frontend=SmallFrontend(stem_channels=4, stages=((8, 2),)),
        audio_frontend=ResNet1DFrontend(layers=(1, 1, 1, 1), widths=(4, 4, 4, 4), activation="relu"),
        fusion=ConcatFusion, pooling=partial(AttentionPooling, hidden_dim=4),
    )
    _trained_scorer(net.pooling)
    net = net.double().eval()
    video, audio = torch.randn(1, 1, 6, 32, 32, dtype=torch.float64), torch.randn(1, 6 * 640, dtype=torch.float64)
    batch_video, batch_audio = 5 * torch.randn(2, 1, 10, 32, 32, dtype=torch.float64), torch.randn(2, 10 * 640, dtype=torch.float64)
    batch_video[1, :, :6], batch_audio[1, : 6 * 640] = video[0], audio[0]
    with torch.inference_mode():
        alone = net(video, torch.tensor([6]), audio=audio)[0]
        padded = net(batch_video, torch.tensor([10, 6]), audio=batch_audio)[1]
    torch.testing.assert_close(padded, alone)
    assert net.head.in_features == net.pooling.output_dim == net.backend.output_dim
