import math

import pytest
import torch

from lipreading.tasks.losses import kd_loss


def test_kd_loss_matches_a_hand_computed_example():
    # T = 2: teacher [0, 2 ln 3] / 2 -> probabilities (1/4, 3/4); student [0, 0] -> (1/2, 1/2).
    # KL = 1/4 ln(1/2) + 3/4 ln(3/2); times T^2 = 4: ln(1/2) + 3 ln(3/2) = ln(27/16).
    student = torch.zeros(1, 2)
    teacher = torch.tensor([[0.0, 2 * math.log(3)]])
    assert kd_loss(student, teacher, temperature=2.0).item() == pytest.approx(math.log(27 / 16), rel=1e-6)
    assert kd_loss(teacher, teacher, temperature=2.0).item() == pytest.approx(0.0, abs=1e-7)


def test_kd_loss_averages_over_clips():
    student, teacher = torch.randn(4, 5), torch.randn(4, 5)
    per_clip = [kd_loss(student[i : i + 1], teacher[i : i + 1], 3.0) for i in range(4)]
    assert kd_loss(student, teacher, 3.0).item() == pytest.approx(torch.stack(per_clip).mean().item(), rel=1e-6)


def test_masked_sequence_kd_is_the_mean_per_token_kl_over_valid_tokens():
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 4, 6, requires_grad=True), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    padded_teacher = teacher.clone()
    padded_teacher[~mask] = float("nan")  # padding may hold anything: it must not leak in
    tokens = [kd_loss(student[b, t][None], teacher[b, t][None], 2.0) for b, t in mask.nonzero().tolist()]
    loss = kd_loss(student, padded_teacher, 2.0, mask=mask)
    assert loss.item() == pytest.approx(torch.stack(tokens).mean().item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(student.grad).all() and (student.grad[~mask] == 0).all()


def test_kd_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(torch.zeros(1, 2), torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match="shape"):
        kd_loss(torch.zeros(1, 2), torch.zeros(1, 3), 1.0)
    with pytest.raises(ValueError, match="mask"):
        kd_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), 1.0, mask=torch.ones(2, 4, dtype=torch.bool))
