"""The CNVSRC baselines' Mandarin VSR checkpoints imported through the import command (format=cnvsrc).

As tests/interop/test_auto_avsr.py: the key map is checked against the full listing of their state dict on the meta
device; the command, the record and a training batch of experiment=cnvsrc_conformer run on a small model of the same
layout whose file is written from the listing's names with random tensors (tests/helpers/cnvsrc.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from lipreading.data.tokenizer import CharListUnits, SentencePieceUnits
from lipreading.interop.auto_avsr import auto_avsr_listing, map_auto_avsr_state_dict
from lipreading.interop.cnvsrc import LISTING, CNVSRCCheckpointError, cnvsrc_state_dict, find_cnvsrc_units, import_cnvsrc
from lipreading.run.build import build_task, network_state
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.import_checkpoint import IMPORTERS, compose_training_config, import_checkpoint
from tests.data.test_auto_avsr_layout import write_mouth_video
from tests.helpers.auto_avsr import TINY, write_units
from tests.helpers.cnvsrc import CHARACTERS, cnvsrc_state, write_char_units
from tests.test_experiments import _run as run_one_batch

UNITS = 4470  # the 2024/2025 baselines' char_units.txt: blank, <unk>, 4,467 characters, <sos>/<eos>


def test_the_listing_maps_onto_our_model_every_tensor_once_without_the_right_to_left_decoder(tmp_path):
    """All 850 entries of their state dict: 83 of r_decoder left out, the other 767 onto our 719 tensors."""
    cfg = compose_training_config(["experiment=cnvsrc_conformer"], tmp_path)
    with torch.device("meta"):
        net = instantiate(cfg.model, vocab_size=UNITS, blank_id=0, bos_id=UNITS - 1, eos_id=UNITS - 1)
    listing = auto_avsr_listing(LISTING)
    state, dropped = cnvsrc_state_dict({t.name: torch.empty(t.shape, dtype=t.dtype, device="meta") for t in listing})
    mapped, report = map_auto_avsr_state_dict(state, net)
    ours = net.state_dict()
    assert (len(listing), dropped) == (850, 83)
    assert list(mapped) == list(ours) and all(mapped[k].shape == ours[k].shape for k in ours)
    # Auto-AVSR's 250,383,410 with 4,470 outputs instead of 5,049: 579 rows fewer in the embedding, output layer, CTC head
    assert (report.entries, report.tensors, report.joined, report.parameters) == (767, 719, 24, 250_383_410 - 579 * (3 * 768 + 2))
    assert "frontend.frontend3D.0.weight" in state and "proj_encoder.weight" in state and not any(k.startswith("r_") for k in state)


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[Path, Path, dict[str, torch.Tensor], CharListUnits]:
    """(a small CNVSRC file with char_units.txt beside it, our checkpoint imported from it, its state, the units)."""
    folder = tmp_path_factory.mktemp("cnvsrc")
    units = write_char_units(folder)
    cfg = compose_training_config(["experiment=cnvsrc_conformer", *TINY], folder)
    state = cnvsrc_state(build_task(cfg, units).net, seed=5)
    source = folder / "model_avg_tiny.pth"
    torch.save(state, source)
    return source, import_checkpoint("cnvsrc", source, folder / "imported" / "tiny.ckpt", TINY), state, units


def test_the_imported_checkpoint_holds_its_weights_units_and_record(imported):
    source, path, state, units = imported
    checkpoint = read_checkpoint(path)
    assert "cnvsrc" in IMPORTERS and checkpoint.kind == "sentence" and checkpoint.record["origin"]["by"] == "import:cnvsrc"
    assert checkpoint.units() == units and len(units) == len(CHARACTERS) + 3
    assert checkpoint.record["input"]["frame_size"] == 96 and checkpoint.record["input"]["crop_size"] == 88
    assert checkpoint.config["task"]["decoding"]["ctc_weight"] == 0.5 and checkpoint.config["task"]["decoding"]["beam_size"] == 40
    ours = network_state(checkpoint)
    assert torch.equal(ours["frontend.stem.0.weight"], state["encoder.frontend.frontend3D.0.weight"])
    assert torch.equal(ours["frontend.trunk.8.bn2.running_var"], state["encoder.frontend.trunk.layer4.1.bn2.running_var"])
    assert torch.equal(ours["backend.input_projection.weight"], state["encoder.embed.0.weight"])
    assert torch.equal(ours["decoder.layers.layers.0.self_attn.in_proj_weight"], torch.cat(
        [state[f"decoder.decoders.0.self_attn.linear_{x}.weight"] for x in "qkv"]))
    assert torch.equal(ours["ctc_head.weight"], state["ctc.ctc_lo.weight"])
    assert any(k.startswith("r_decoder.") for k in state)  # the file held one, the import left it out


def test_files_that_are_not_cnvsrc_checkpoints_or_lack_their_units_are_named(imported, tmp_path):
    source, _, state, units = imported
    auto_avsr = {k.replace("encoder.frontend.", "frontend."): v for k, v in state.items()}
    with pytest.raises(CNVSRCCheckpointError, match=r"^x\.pth is not one of the CNVSRC .*use format=auto_avsr"):
        cnvsrc_state_dict(auto_avsr, "x.pth")
    alone = tmp_path / "alone.pth"
    alone.write_bytes(source.read_bytes())
    with pytest.raises(CNVSRCCheckpointError, match=r"alone\.pth: the baseline's units are not beside it: copy char_units\.txt"):
        import_cnvsrc(alone)
    write_char_units(tmp_path / "datamodule", "我们")  # found in datamodule/, but 5 units where the file predicts more
    with pytest.raises(CNVSRCCheckpointError, match=rf"predicts {len(units)} units but the units beside it"):
        import_cnvsrc(alone)
    with pytest.raises(CNVSRCCheckpointError, match="not found; download it as the README of"):
        import_cnvsrc(tmp_path / "nope.pth")


def test_the_2023_baselines_sentencepiece_units_are_found_beside_the_file(tmp_path):
    """CNVSRC 2023: spm/unigram/unigram5000.model + unigram5000_units.txt, read without upper-casing."""
    write_units(tmp_path / "spm" / "unigram")
    units = find_cnvsrc_units(tmp_path / "model.pth")
    assert isinstance(units, SentencePieceUnits) and units.uppercase is False and units.tokens[:2] == ["<blank>", "<unk>"]


def test_cnvsrc_conformer_trains_one_batch_from_the_import_on_the_baselines_prepared_layout(imported, tmp_path, caplog):
    """experiment=cnvsrc_conformer, init_from.model= the import, data=cnvsrc: ROOT/cncvs/*.csv + ROOT/cncvs/... videos."""
    source, path, _, units = imported
    root = tmp_path / "prepared"
    rows = {"train": [], "valid": [], "test": []}
    for i, (split, text, frames) in enumerate([("train", "我们今天在学校", 12), ("train", "他上课唱歌", 9),
                                               ("valid", "她学习唇语", 10), ("test", "我们学习", 8)]):
        relative = f"speech/s0000{i}/video/s0000{i}_001_00001.mp4"
        write_mouth_video(root / "cncvs" / relative, frames, seed=i)
        rows[split].append(f"cncvs,{relative},{frames},{' '.join(map(str, units.encode(text)))}")
    for split, lines in rows.items():
        (root / "cncvs" / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="lipreading.run.build"):
        metrics = run_one_batch(tmp_path, "cnvsrc_conformer", *TINY, "trainer=cpu", f"data.root={root}",
                                f"data.units.units_file={source.parent / 'char_units.txt'}", "data.num_workers=0",
                                "data.batch_size=2", "data.eval_batch_size=2", f"init_from.model={path}",
                                "task.decoding.beam_size=2", "task.decoding.max_length=4", "task.scheduler.warmup_epochs=0")
    assert f"initialised the whole network from {path}" in caplog.text
    assert 0.0 <= metrics["test/cer"] and read_checkpoint(metrics["best_checkpoint"]).units() == units
