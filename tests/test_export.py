"""ONNX and TorchScript export of a word checkpoint, checked against PyTorch at another time length."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from lipreading.run.build import restore_task
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.export import export
from lipreading.run.word_export import example_inputs
from lipreading.utils.errors import ConfigError
from tests.conftest import compose_config
from tests.helpers.teachers import write_teacher

WORDS = ["ABOUT", "BILLION", "SPEND"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny word checkpoint whose BatchNorms hold non-trivial statistics (so folding matters)."""
    path = write_teacher(tmp_path_factory.mktemp("export") / "word.ckpt", WORDS, seed=3)
    stored = torch.load(path, weights_only=False)
    generator = torch.Generator().manual_seed(0)
    for name, value in stored["state_dict"].items():
        if name.endswith("running_mean"):
            value.normal_(0, 0.2, generator=generator)
        elif name.endswith("running_var"):
            value.uniform_(0.5, 2.0, generator=generator)
    torch.save(stored, path)
    return path


def export_config(tmp_path, ckpt, *overrides):
    return compose_config("export", [f"ckpt={ckpt}", *overrides], tmp_path)


def pytorch_logits(ckpt, inputs):
    task, _ = restore_task(read_checkpoint(ckpt))
    with torch.no_grad():
        return task.net.eval()(*inputs).numpy()


def test_onnx_runtime_matches_pytorch_at_another_time_length(tmp_path, checkpoint):
    output = export(export_config(tmp_path, checkpoint, "format=onnx", "example_frames=29"))
    assert output.name == "model.onnx"
    # 41 frames, batch 3 with unequal lengths: neither the example's time length nor its batch.
    video, lengths = example_inputs(1, 41, 44, batch=3, seed=7)
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(["logits"], {"video": video.numpy(), "lengths": lengths.numpy()})[0]
    assert onnx_logits.shape == (3, len(WORDS))
    np.testing.assert_allclose(onnx_logits, pytorch_logits(checkpoint, (video, lengths)), atol=1e-4, rtol=0)
    described = json.loads(output.with_name("model.onnx.json").read_text())
    assert described["vocabulary"] == WORDS and described["crop_size"] == 44
    assert described["max_abs_difference"] < 1e-4 and described["checked_at_frames"] == 40


def test_torchscript_matches_pytorch_at_another_time_length(tmp_path, checkpoint):
    output = export(export_config(tmp_path, checkpoint, "format=torchscript", f"output={tmp_path / 'w.pt'}"))
    video, lengths = example_inputs(1, 17, 44, batch=2, seed=8)
    with torch.no_grad():
        scripted = torch.jit.load(str(output))(video, lengths).numpy()
    np.testing.assert_allclose(scripted, pytorch_logits(checkpoint, (video, lengths)), atol=1e-4, rtol=0)


def test_an_unknown_format_lists_the_valid_ones(tmp_path, checkpoint):
    with pytest.raises(ConfigError, match="valid formats: onnx, torchscript"):
        export(export_config(tmp_path, checkpoint, "format=tflite"))
