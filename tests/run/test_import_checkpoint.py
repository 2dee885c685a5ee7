"""The import command (python -m lipreading.run.import_checkpoint): a reference zoo file becomes one of our
checkpoints, which eval.py, infer.py, export.py and train.py init_from.model= read like our own.

The reference files are built from the zoo's key listings with random tensors (tests/helpers/reference_zoo.py).
The smallest zoo entry (snv05x_tcn1x, 2.9M parameters) keeps the tests fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from lipreading.data.clip import Clip, save_clip
from lipreading.interop.tcn_reference import ReferenceCheckpointError, reference_vocabulary
from lipreading.run.build import build_task, initialise, network_state
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.evaluate import evaluate
from lipreading.run.export import export
from lipreading.run.import_checkpoint import IMPORTERS, import_checkpoint, main, merge_overrides, parse_arguments
from lipreading.run import mouth
from lipreading.run.infer import infer
from lipreading.run.train import train
from lipreading.utils.errors import ConfigError
from tests.conftest import compose_config
from tests.helpers.reference_zoo import write_lrw_layout, write_reference_file

ENTRY = "snv05x_tcn1x"  # model=shufflenet0.5_tcn


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, Path]:
    """(the reference file, our checkpoint imported from it)."""
    out = tmp_path_factory.mktemp("import")
    source = write_reference_file(out / f"{ENTRY}.pth", ENTRY, seed=3)
    return source, import_checkpoint("tcn_reference", source, out / "imported" / "snv05.ckpt")


@pytest.fixture(scope="module")
def lrw_root(tmp_path_factory) -> Path:
    """LRW's layout for the reference's 500 words (every word/split folder), two clips for the first two words."""
    return write_lrw_layout(tmp_path_factory.mktemp("lrw"))


def test_the_imported_checkpoint_holds_the_reference_weights_config_and_record(imported):
    source, path = imported
    checkpoint = read_checkpoint(path)
    record = checkpoint.record
    assert checkpoint.kind == "word" and checkpoint.vocabulary == list(reference_vocabulary())
    assert record["origin"]["by"] == "import:tcn_reference" and record["origin"]["source"] == str(source.resolve())
    assert record["origin"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert {k: record["input"][k] for k in ("modality", "frame_size", "crop_size", "mean", "std", "num_frames",
                                            "use_boundary")} == {
        "modality": "video", "frame_size": 96, "crop_size": 88, "mean": 0.421, "std": 0.165, "num_frames": 29,
        "use_boundary": False}
    assert record["input"]["preprocessing"]["alignment"] == "tcn_reference"  # infer.py cuts its crops so
    assert record["input"]["preprocessing"]["reference"].endswith("/legacy_preprocessing")  # a ShuffleNet entry
    config = checkpoint.config
    assert config["model"]["_target_"].endswith("WordClassifierNet") and config["data"]["num_classes"] == 500
    assert config["data"]["vocabulary"] == checkpoint.vocabulary  # the data reads classes in the file's order
    reference = torch.load(source, weights_only=True)["model_state_dict"]
    ours = network_state(checkpoint)
    assert torch.equal(ours["head.weight"], reference["tcn.tcn_output.weight"])
    assert torch.equal(ours["frontend.stem.0.weight"], reference["frontend3D.0.weight"])
    assert torch.equal(ours["backend.blocks.1.branches1.0.conv.weight"], reference["tcn.tcn_trunk.network.1.conv2.weight"])
    assert not any(k.startswith("optimizer") for k in checkpoint.contents)


def test_a_file_of_another_architecture_fails_naming_the_first_key_that_does_not_fit(imported, tmp_path):
    source, _ = imported
    with pytest.raises(ReferenceCheckpointError, match=r"^trunk\.0\.0\.banch1\.2\.weight has shape \(24, 24, 1, 1\) but this "
                       r"network's frontend\.trunk\.1\.branch1\.2\.weight has \(58, 24, 1, 1\); the file looks like the "
                       r"zoo's snv05x_tcn1x \(model=shufflenet0\.5_tcn\)$"):
        import_checkpoint("tcn_reference", source, tmp_path / "x.ckpt", ["model=shufflenet_tcn"])
    assert not (tmp_path / "x.ckpt").exists()


def test_unknown_formats_and_missing_arguments_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown format='tcn'; known formats: tcn_reference"):
        import_checkpoint("tcn", tmp_path / "a.pth", tmp_path / "a.ckpt")
    with pytest.raises(ConfigError, match=r"give out=; usage: python -m lipreading.run.import_checkpoint"):
        parse_arguments(["format=tcn_reference", "path=a.pth"])
    with pytest.raises(ReferenceCheckpointError, match="nope.pth not found; download it from the model zoo"):
        import_checkpoint("tcn_reference", tmp_path / "nope.pth", tmp_path / "a.ckpt")
    assert set(IMPORTERS) >= {"tcn_reference"}


def test_the_users_overrides_win_over_the_proposed_ones():
    proposed = ("data=lrw", "model=resnet18_dctcn", "data.num_classes=500")
    assert merge_overrides(proposed, ["model=resnet18_mstcn", "data.use_boundary=true"]) == [
        "data=lrw", "data.num_classes=500", "model=resnet18_mstcn", "data.use_boundary=true"]


def test_the_command_line_writes_the_checkpoint(imported, tmp_path, capsys):
    source, _ = imported  # main() is what `python -m lipreading.run.import_checkpoint ARGS` runs
    main(["format=tcn_reference", f"path={source}", f"out={tmp_path / 'cli.ckpt'}"])
    assert f"wrote {tmp_path / 'cli.ckpt'}" in capsys.readouterr().out
    assert read_checkpoint(tmp_path / "cli.ckpt").record["origin"]["by"] == "import:tcn_reference"
    with pytest.raises(SystemExit) as exited:
        main(["format=nope", "path=x", "out=y"])
    assert exited.value.code == 1 and "error: unknown format='nope'; known formats: tcn_reference" in capsys.readouterr().err


def test_eval_infer_and_export_read_the_imported_checkpoint(imported, lrw_root, tmp_path):
    _, path = imported
    cfg = compose_config("eval", [f"ckpt={path}", f"data.root={lrw_root}", "data.num_workers=0"], tmp_path / "eval")
    metrics = evaluate(cfg)
    assert metrics["test/num_samples"] == 4 and (tmp_path / "eval" / "run" / "predictions.csv").is_file()
    clip = tmp_path / "mouth.npz"
    save_clip(clip, Clip(video=np.random.default_rng(1).integers(0, 256, (29, 96, 96), dtype=np.uint8)))
    cfg = compose_config("infer", [f"ckpt={path}", f"video={clip}", "top_k=3"], tmp_path / "infer")
    transcript = infer(cfg)
    assert len(transcript.words) == 3 and all(word in reference_vocabulary() for word, _ in transcript.words)
    cfg = compose_config("export", [f"ckpt={path}", "format=torchscript"], tmp_path / "export")
    output = export(cfg)
    assert output.suffix == ".pt" and json.loads(output.with_name(output.name + ".json").read_text())[
        "max_abs_difference"] < 1e-4


def test_train_starts_from_it_with_init_from_model_and_refuses_to_resume_it(imported, lrw_root, tmp_path, caplog):
    _, path = imported
    overrides = ["data=lrw", "model=shufflenet0.5_tcn", f"data.root={lrw_root}", "data.num_workers=0",
                 "data.batch_size=2", "trainer=debug", "logger=none", "callbacks=none", "test=false"]
    resume = compose_config("train", [*overrides, f"ckpt_path={path}"], tmp_path / "resume")
    with pytest.raises(ConfigError, match=r"written by import:tcn_reference.*init_from.model="):
        train(resume)
    # Fine-tuning to two of its words: a new head whose rows for these words are the imported ones.
    cfg = compose_config("train", [*overrides, f"init_from.model={path}", "data.num_classes=2",
                                   "data.vocabulary=[ABOUT,ABSOLUTELY]", "task.freeze=frontend"], tmp_path / "init")
    with caplog.at_level(logging.INFO, logger="lipreading.run.build"):
        train(cfg)  # one batch of training and validation (trainer=debug)
    assert f"init_from.model={path}: a new head for this run's 2 classes (the checkpoint has 500); 2 rows" in caplog.text
    assert f"initialised the whole network from {path}" in caplog.text
    net = build_task(cfg).net
    initialise(net, {"model": str(path)}, ["ABOUT", "ABSOLUTELY"])
    stored = network_state(read_checkpoint(path))
    assert all(torch.equal(value, stored[name] if not name.startswith("head.") else stored[name][:2])
               for name, value in net.state_dict().items())


def test_infer_cuts_a_video_as_the_reference_did_for_an_imported_model(imported, tmp_path, monkeypatch, caplog):
    _, path = imported
    seen = {}
    monkeypatch.setattr(mouth, "mouth_clip", lambda video, frame_size, cropped, roi, preview: seen.update(
        frame_size=frame_size, roi=roi) or Clip(video=np.zeros((29, 96, 96), np.uint8)))
    cfg = compose_config("infer", [f"ckpt={path}", f"video={tmp_path / 'talk.mp4'}"], tmp_path / "infer")
    with caplog.at_level(logging.INFO, logger="lipreading.run.mouth"):
        mouth.read_mouth(cfg, read_checkpoint(path))
    assert seen["frame_size"] == 96 and seen["roi"].alignment == "tcn_reference"
    assert "was trained on crops of alignment=tcn_reference (its record): using it" in caplog.text
