"""The checkpoint record: written once at training time, read by every consumer; old checkpoints still load."""

import logging

import pytest
import torch
from omegaconf import OmegaConf

from lipreading.run.build import build_task, load_network_weights, restore_task
from lipreading.run.checkpoint import FORMAT, KINDS, read_checkpoint, training_record, write_checkpoint
from lipreading.run.kinds import REGISTRY, kind_of
from lipreading.run.train import check_resumable
from lipreading.utils.errors import CheckpointError, ConfigError
from tests.helpers.teachers import TINY_MODEL, write_legacy_teacher, write_teacher

WORDS = ["ABOUT", "BILLION", "SPEND"]


def test_training_records_declare_the_kind_and_the_input(compose_train):
    words = training_record(compose_train())
    assert words["format"] == FORMAT and words["kind"] == "word" and words["origin"]["by"] == "train.py"
    assert words["input"] == {
        "modality": "video", "fps": 25.0, "frame_size": 48, "crop_size": 44, "channels": 1, "mean": 0.421,
        "std": 0.165, "num_frames": 29, "use_boundary": False, "audio_rate": None, "samples_per_frame": None,
        "preprocessing": None,
    }
    lrw = training_record(compose_train("data=lrw", "model=resnet18_mstcn", "data.use_boundary=true"))["input"]
    assert (lrw["frame_size"], lrw["crop_size"], lrw["num_frames"], lrw["use_boundary"]) == (None, 88, 29, True)
    assert training_record(compose_train("data=lrw1000"))["input"]["num_frames"] is None
    sentences = training_record(compose_train("experiment=synthetic_sentences"))
    assert sentences["kind"] == "sentence" and sentences["input"]["num_frames"] is None
    separation = training_record(compose_train("experiment=separation"))  # the clips of data.clips
    assert separation["kind"] == "separation" and separation["input"]["modality"] == "av"
    assert (separation["input"]["audio_rate"], separation["input"]["samples_per_frame"]) == (16000, 640)
    assert separation["input"]["crop_size"] == 44


def test_a_written_checkpoint_reads_back_and_rebuilds_its_task(tmp_path):
    path = write_teacher(tmp_path / "w.ckpt", WORDS)
    checkpoint = read_checkpoint(path)
    assert checkpoint.kind == "word" and checkpoint.vocabulary == WORDS and checkpoint.input["crop_size"] == 44
    assert not list(tmp_path.glob(".*tmp")), "written atomically: no temporary file left"
    task, config = restore_task(checkpoint)
    assert task.net.num_classes == 3 and config.data.num_classes == 3
    assert kind_of(checkpoint) is REGISTRY["word"]


def test_a_checkpoint_without_a_record_gets_it_derived_once(tmp_path, caplog):
    path = write_legacy_teacher(tmp_path / "old.ckpt", WORDS)
    assert "lipreading" not in torch.load(path, weights_only=False)
    with caplog.at_level(logging.INFO, logger="lipreading.run.checkpoint"):
        checkpoint = read_checkpoint(path)
    assert "holds no record" in caplog.text and "old.ckpt" in caplog.text
    assert checkpoint.kind == "word" and checkpoint.vocabulary == WORDS
    assert checkpoint.input == training_record(OmegaConf.create(checkpoint.config))["input"]


def test_damaged_or_foreign_files_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="nope.ckpt not found"):
        read_checkpoint(tmp_path / "nope.ckpt")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(write_teacher(tmp_path / "w.ckpt", WORDS).read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated.ckpt is unreadable"):
        read_checkpoint(truncated)
    foreign = tmp_path / "foreign.pth"
    torch.save({"model_state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pth is not a Lightning checkpoint"):
        read_checkpoint(foreign)
    future = tmp_path / "future.ckpt"
    contents = torch.load(tmp_path / "w.ckpt", weights_only=False)
    torch.save({**contents, "lipreading": {**contents["lipreading"], "format": FORMAT + 1}}, future)
    with pytest.raises(CheckpointError, match="future.ckpt: its record"):
        read_checkpoint(future)


def test_a_kind_this_version_cannot_run_is_answered_with_the_known_ones(tmp_path, monkeypatch):
    source = read_checkpoint(write_teacher(tmp_path / "w.ckpt", WORDS))
    path = write_checkpoint(tmp_path / "sep.ckpt", source.state_dict, source.config, {**source.record, "kind": "separation"})
    monkeypatch.delitem(REGISTRY, "separation")  # a record kind (checkpoint.KINDS) without functions here
    with pytest.raises(CheckpointError, match=r"sep.ckpt is a 'separation' checkpoint.*known kinds: word, sentence, language_model"):
        kind_of(read_checkpoint(path))
    monkeypatch.undo()
    assert set(REGISTRY) == set(KINDS)  # every kind a record may declare can be run


def test_init_from_model_takes_the_whole_network_of_the_same_architecture(compose_train, tmp_path):
    path = write_teacher(tmp_path / "w.ckpt", WORDS, seed=5)
    net = build_task(compose_train(*TINY_MODEL, "data.num_classes=3")).net
    load_network_weights(net, str(path))
    stored = read_checkpoint(path).state_dict
    assert all(torch.equal(value, stored[f"net.{name}"]) for name, value in net.state_dict().items())
    other = build_task(compose_train("data.num_classes=3")).net  # the default small_tcn, wider
    with pytest.raises(CheckpointError, match=r"init_from.model=.*w.ckpt: its network \(word\) does not match"):
        load_network_weights(other, str(path))


def test_resuming_is_for_our_own_runs_an_imported_checkpoint_points_to_init_from(tmp_path):
    source = read_checkpoint(write_teacher(tmp_path / "w.ckpt", WORDS))
    check_resumable(str(source.path))  # written by train.py's code path: fine
    imported = {**source.record, "origin": {"by": "import:tcn_reference", "source": "x.pth", "sha256": None,
                                            "git_commit": None}}
    path = write_checkpoint(tmp_path / "imported.ckpt", source.state_dict, source.config, imported)
    with pytest.raises(ConfigError, match=r"written by import:tcn_reference.*init_from.model=.*imported.ckpt"):
        check_resumable(str(path))
