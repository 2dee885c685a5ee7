"""Flip test-time augmentation: the mean of the clip's and its mirror's probabilities."""

import torch
from torch import nn

from lipreading.models.tta import FlipAverage


class WidthLinear(nn.Module):
    """A toy classifier that sees which side of the frame is bright."""

    num_classes = 3

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 3)

    def forward(self, video, lengths):
        return self.linear(video.mean((1, 2, 3)))  # (B, C, T, H, W) -> (B, W) -> (B, 3)


def test_flip_average_is_the_mean_of_both_probabilities():
    torch.manual_seed(0)
    net, video, lengths = WidthLinear(), torch.randn(2, 1, 5, 8, 8), torch.tensor([5, 3])
    expected = (net(video, lengths).softmax(-1) + net(video.flip(-1), lengths).softmax(-1)) / 2
    log_probs = FlipAverage(net)(video, lengths)
    assert torch.allclose(log_probs.exp(), expected, atol=1e-6)
    assert torch.allclose(log_probs.log_softmax(-1), log_probs, atol=1e-6)  # a task's log_softmax keeps it
    symmetric = torch.cat([video[..., :4], video[..., :4].flip(-1)], -1)
    assert torch.allclose(FlipAverage(net)(symmetric, lengths), net(symmetric, lengths).log_softmax(-1), atol=1e-6)
