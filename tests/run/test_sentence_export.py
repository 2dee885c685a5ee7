"""ONNX export of sentence checkpoints: ONNX Runtime's greedy decoding gives PyTorch's transcripts."""

import contextlib
import json

import pytest
import torch

from lipreading.run import sentence_export
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.export import export
from lipreading.run.sentence_onnx import OnnxSentenceModel
from lipreading.run.word_export import example_inputs
from lipreading.utils.errors import ConfigError
from tests.conftest import compose_config
from tests.helpers.sentence_models import write_sentence_model


def export_config(tmp_path, ckpt, *overrides):
    return compose_config("export", [f"ckpt={ckpt}", "example_frames=12", *overrides], tmp_path)


def pytorch_ids(ckpt, video, lengths, method):
    task, _ = restore_task(read_checkpoint(ckpt))
    return task.net.eval().decode(video, lengths, method=method, max_length=task.decoding["max_length"])


@pytest.mark.parametrize(("decoder", "methods", "files"), [
    ("attention_lstm", ["greedy", "ctc_greedy"], {"encoder.onnx", "decoder_step.onnx"}),  # hybrid CTC/attention
    ("transformer", ["greedy"], {"encoder.onnx", "decoder_step.onnx"}),  # a decoder alone, its state a growing prefix
    ("ctc", ["greedy"], {"encoder.onnx"}),  # CTC alone: greedy is CTC's best path, no step graph
])
def test_onnx_runtime_decodes_the_transcripts_of_pytorch(tmp_path, single_thread, decoder, methods, files):
    ckpt = write_sentence_model(tmp_path / "sentence.ckpt", decoder, seed=1)
    directory = export(export_config(tmp_path, ckpt, f"output={tmp_path / 'onnx'}"))
    assert {p.name for p in directory.glob("*.onnx")} == files
    described = json.loads((directory / "sentence_model.json").read_text())
    assert described["checked_at_frames"] == 23 and max(described["max_abs_difference"].values()) < 1e-4
    # Another length, batch and unequal lengths than the export's example and its own check.
    video, lengths = example_inputs(1, 30, 44, batch=4, seed=9)
    lengths = torch.tensor([30, 7, 19, 26])
    exported = OnnxSentenceModel(directory)
    for method in methods:
        ids = exported.decode(video.numpy(), lengths.numpy(), method)
        assert ids == pytorch_ids(ckpt, video, lengths, method), method
        assert any(ids), "the random model decodes nothing: the comparison would hold for any export"
    texts = exported.transcribe(video.numpy(), lengths.numpy())
    assert texts == [exported.units.decode(i) for i in exported.decode(video.numpy(), lengths.numpy())]


def test_an_export_that_keeps_the_example_length_is_refused(tmp_path, single_thread, monkeypatch):
    # Without separate key/value projections the exporter bakes the example's number of frames into
    # the decoder's attention; the check at another length must catch it rather than keep the files.
    monkeypatch.setattr(sentence_export, "separate_attention_projections", contextlib.nullcontext)
    ckpt = write_sentence_model(tmp_path / "sentence.ckpt", "attention_lstm")
    with pytest.raises(ConfigError, match="does not keep dynamic"):
        export(export_config(tmp_path, ckpt, f"output={tmp_path / 'onnx'}"))


def test_transcripts_that_differ_fail_the_export(tmp_path, single_thread, monkeypatch):
    ckpt = write_sentence_model(tmp_path / "sentence.ckpt", "ctc")
    decode = sentence_export.OnnxSentenceModel.decode
    monkeypatch.setattr(sentence_export.OnnxSentenceModel, "decode",
                        lambda self, *args: [ids[:-1] for ids in decode(self, *args)])  # one token lost
    with pytest.raises(ConfigError, match="ctc_greedy decoding gives .* not faithful"):
        export(export_config(tmp_path, ckpt))


def test_a_sentence_checkpoint_is_not_exported_to_torchscript(tmp_path):
    ckpt = write_sentence_model(tmp_path / "sentence.ckpt", "ctc")
    with pytest.raises(ConfigError, match="exported to ONNX only"):
        export(export_config(tmp_path, ckpt, "format=torchscript"))


