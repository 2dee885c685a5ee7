"""Auto-AVSR's VSR checkpoints imported through the import command (format=auto_avsr).

The key map is checked against the full listing of Auto-AVSR's state dict on the meta device (every name and
shape of its 250M-parameter model, no memory); the command, the record and the consumers run on a small model of
the same layout whose file is written from the listing's names with random tensors (tests/helpers/auto_avsr.py).
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from lipreading.data.clip import Clip, save_clip
from lipreading.interop.auto_avsr import (
    AutoAVSRCheckpointError, auto_avsr_listing, auto_avsr_place, auto_avsr_state_dict, find_units, import_auto_avsr,
    map_auto_avsr_state_dict,
)
from lipreading.run.build import build_task, load_network_weights, network_state
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.import_checkpoint import IMPORTERS, compose_training_config, import_checkpoint
from lipreading.run.infer import infer
from tests.conftest import compose_config
from tests.data.test_auto_avsr_layout import write_mouth_video
from tests.helpers.auto_avsr import TINY, auto_avsr_state, write_units
from tests.test_experiments import _run as run_one_batch

UNITS = 5049  # Auto-AVSR's units: blank, <unk>, 5,046 pieces, <sos>/<eos>


def test_the_listing_maps_onto_our_model_every_tensor_once(tmp_path):
    """All 767 entries of Auto-AVSR's VSR state dict, at their shapes, onto model=resnet18_conformer_transformer."""
    cfg = compose_training_config(["experiment=lrs3_auto_avsr"], tmp_path)
    with torch.device("meta"):
        net = instantiate(cfg.model, vocab_size=UNITS, blank_id=0, bos_id=UNITS - 1, eos_id=UNITS - 1)
    listing = auto_avsr_listing()
    state = {t.name: torch.empty(t.shape, dtype=t.dtype, device="meta") for t in listing}
    mapped, report = map_auto_avsr_state_dict(state, net)
    ours = net.state_dict()
    assert list(mapped) == list(ours) and all(mapped[k].shape == ours[k].shape for k in ours)
    assert (report.entries, report.tensors, report.joined, report.parameters) == (767, 719, 24, 250_383_410)
    places = [auto_avsr_place(t.name) for t in listing]
    assert len(set(places)) == len(places), "two entries of the file share one place"
    assert auto_avsr_place("decoder.decoders.5.src_attn.linear_v.bias") == (
        "decoder.layers.layers.5.multihead_attn.in_proj_bias", 2, 3)
    assert auto_avsr_place("encoder.encoders.11.self_attn.pos_bias_u").key == "backend.blocks.11.attention.content_bias"
    assert auto_avsr_place("frontend.trunk.layer4.1.bn2.running_var").key == "frontend.trunk.8.bn2.running_var"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, Path, dict[str, torch.Tensor]]:
    """(a small Auto-AVSR file with its units beside it in spm/unigram/, our checkpoint imported from it, its state)."""
    folder = tmp_path_factory.mktemp("auto_avsr")
    units = write_units(folder / "spm" / "unigram")
    cfg = compose_training_config(["experiment=lrs3_auto_avsr", *TINY], folder)
    state = auto_avsr_state(build_task(cfg, units).net, seed=3)
    source = folder / "vsr_tiny.pth"
    torch.save(state, source)
    return source, import_checkpoint("auto_avsr", source, folder / "imported" / "tiny.ckpt", TINY), state


def test_the_imported_checkpoint_holds_its_weights_units_config_and_record(imported):
    source, path, state = imported
    checkpoint = read_checkpoint(path)
    record = checkpoint.record
    assert checkpoint.kind == "sentence" and "auto_avsr" in IMPORTERS
    assert record["origin"]["by"] == "import:auto_avsr" and record["origin"]["source"] == str(source.resolve())
    assert record["origin"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert {k: record["input"][k] for k in ("modality", "frame_size", "crop_size", "channels", "mean", "std")} == {
        "modality": "video", "frame_size": 96, "crop_size": 88, "channels": 1, "mean": 0.421, "std": 0.165}
    assert "auto_avsr" in record["input"]["preprocessing"]["reference"]
    units = checkpoint.units()
    assert units == find_units(source) and units.tokens[:2] == ["<blank>", "<unk>"] and units.bos_id == units.eos_id
    assert checkpoint.config["task"]["decoding"]["beam_size"] == 40 and checkpoint.config["task"]["ctc_weight"] == 0.1
    ours = network_state(checkpoint)
    assert torch.equal(ours["frontend.stem.0.weight"], state["frontend.frontend3D.0.weight"])
    assert torch.equal(ours["frontend.trunk.3.downsample.0.weight"], state["frontend.trunk.layer2.0.downsample.0.weight"])
    assert torch.equal(ours["backend.blocks.1.attention.position_bias"], state["encoder.encoders.1.self_attn.pos_bias_v"])
    assert torch.equal(ours["decoder.layers.layers.1.self_attn.in_proj_weight"], torch.cat(
        [state[f"decoder.decoders.1.self_attn.linear_{x}.weight"] for x in "qkv"]))
    assert torch.equal(ours["ctc_head.bias"], state["ctc.ctc_lo.bias"])
    assert not any(k.startswith("optimizer") for k in checkpoint.contents)


def test_infer_transcribes_a_mouth_clip_and_init_from_model_takes_it(imported, tmp_path):
    _, path, _ = imported
    clip = tmp_path / "mouth.npz"
    save_clip(clip, Clip(video=np.random.default_rng(1).integers(0, 256, (20, 96, 96), dtype=np.uint8)))
    cfg = compose_config("infer", [f"ckpt={path}", f"video={clip}", "decoding.beam_size=3", "decoding.max_length=6"],
                         tmp_path / "infer")
    transcript = infer(cfg)
    units = read_checkpoint(path).units()
    assert isinstance(transcript.text, str) and units.decode(units.encode(transcript.text)) == transcript.text
    # train.py init_from.model=: the same architecture, its weights (what fine-tuning starts from)
    train_cfg = compose_training_config(["experiment=lrs3_auto_avsr", *TINY], tmp_path)
    net = build_task(train_cfg, units).net
    load_network_weights(net, str(path))
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in network_state(read_checkpoint(path)).items())


def test_a_file_that_does_not_fit_is_named_by_its_first_misfit(imported, tmp_path):
    source, _, state = imported
    cfg = compose_training_config(["experiment=lrs3_auto_avsr", *TINY], tmp_path)
    net = build_task(cfg, find_units(source)).net
    with pytest.raises(AutoAVSRCheckpointError, match=r"^encoder\.extra\.weight \(shape \(2,\)\) has no place"):
        map_auto_avsr_state_dict({**state, "encoder.extra.weight": torch.zeros(2)}, net)
    shrunk = {**state, "decoder.decoders.0.src_attn.linear_k.weight": torch.zeros(4, 32)}
    with pytest.raises(AutoAVSRCheckpointError, match=re.escape(
            "decoder.decoders.0.src_attn.linear_q.weight + decoder.decoders.0.src_attn.linear_k.weight + "
            "decoder.decoders.0.src_attn.linear_v.weight has shape (68, 32) but our "
            "decoder.layers.layers.0.multihead_attn.in_proj_weight has (96, 32)")):
        map_auto_avsr_state_dict(shrunk, net)
    missing = {k: v for k, v in state.items() if k != "decoder.decoders.1.self_attn.linear_v.bias"}
    with pytest.raises(AutoAVSRCheckpointError, match=r"in_proj_bias needs 3 entries \(q, k, v\) but the file has only"):
        map_auto_avsr_state_dict(missing, net)
    no_ctc = {k: v for k, v in state.items() if not k.startswith("ctc.")}
    with pytest.raises(AutoAVSRCheckpointError, match=r"^our ctc_head\.weight \(shape \(\d+, 32\)\) is filled by no entry"):
        map_auto_avsr_state_dict(no_ctc, net)
    deeper = {**state, "encoder.encoders.2.norm_ff.weight": torch.zeros(32)}
    with pytest.raises(AutoAVSRCheckpointError, match=r"maps to backend\.blocks\.2\.norm_ff\.weight, which our network lacks"):
        map_auto_avsr_state_dict(deeper, net)
    with pytest.raises(AutoAVSRCheckpointError, match="audio model"):
        auto_avsr_state_dict({"frontend.trunk.conv1.weight": torch.zeros(1)}, "a.pth")


def test_units_must_lie_beside_the_file_and_fit_its_outputs(imported, tmp_path):
    source, _, state = imported
    alone = tmp_path / "alone.pth"
    alone.write_bytes(source.read_bytes())
    with pytest.raises(AutoAVSRCheckpointError, match=r"alone\.pth: Auto-AVSR's units are not beside it: copy "
                                                      r"unigram5000\.model and unigram5000_units\.txt"):
        import_auto_avsr(alone)
    write_units(tmp_path)  # beside the file this time, but the file predicts one unit more
    wider = {**state, "ctc.ctc_lo.weight": torch.zeros(len(find_units(alone)) + 1, 32)}
    torch.save(wider, alone)
    with pytest.raises(AutoAVSRCheckpointError, match=r"predicts \d+ units but the units beside it"):
        import_auto_avsr(alone)
    with pytest.raises(AutoAVSRCheckpointError, match="not found; download it from https://github.com/mpc001/auto_avsr"):
        import_auto_avsr(tmp_path / "nope.pth")


def test_train_fine_tunes_the_import_on_auto_avsrs_prepared_layout(imported, tmp_path, caplog):
    """experiment=lrs3_auto_avsr with init_from.model= the imported checkpoint, on data=auto_avsr (one batch)."""
    source, path, _ = imported
    units = find_units(source)
    root = tmp_path / "prepared"
    rows = {"train": [], "test": []}
    for i, (split, text, frames) in enumerate([("trainval", "we read the book", 12), ("trainval", "we sang", 9),
                                               ("test", "they read a book", 10), ("test", "don't stop", 8)]):
        relative = f"lrs3_video_seg16s/{split}/talk{i}/5000{i}.mp4"
        write_mouth_video(root / "lrs3" / relative, frames, seed=i)
        rows["test" if split == "test" else "train"].append(f"lrs3,{relative},{frames},{' '.join(map(str, units.encode(text)))}")
    (root / "labels").mkdir()
    for split, lines in rows.items():
        (root / "labels" / f"lrs3_{split}_transcript_lengths_seg16s.csv").write_text("\n".join(lines) + "\n")
    spm = source.parent / "spm" / "unigram"
    with caplog.at_level(logging.INFO, logger="lipreading.run.build"):
        metrics = run_one_batch(tmp_path, "lrs3_auto_avsr", *TINY, "trainer=cpu", f"data.root={root}",
                                f"data.units.model={spm / 'unigram5000.model'}", "data.num_workers=0",
                                f"data.units.units_file={spm / 'unigram5000_units.txt'}", "data.batch_size=2",
                                "data.eval_batch_size=2", f"init_from.model={path}", "task.decoding.beam_size=2",
                                "task.decoding.max_length=4", "task.scheduler.warmup_epochs=0")
    assert f"initialised the whole network from {path}" in caplog.text
    assert 0.0 <= metrics["test/wer"] and read_checkpoint(metrics["best_checkpoint"]).units() == units
