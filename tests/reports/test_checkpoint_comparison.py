"""Several checkpoints in one eval call: expansion of lists and globs, names, the comparison table."""

import pytest
from omegaconf import OmegaConf

from lipreading.reports.compare import checkpoint_names, evaluate_checkpoints, expand_checkpoints
from lipreading.utils.errors import CheckpointError


def test_lists_and_globs_expand_in_order_without_duplicates(tmp_path):
    for run in ("a", "b"):
        (tmp_path / run / "checkpoints").mkdir(parents=True)
        (tmp_path / run / "checkpoints" / "last.ckpt").touch()
    pattern = str(tmp_path / "*" / "checkpoints" / "last.ckpt")
    paths = expand_checkpoints(OmegaConf.create({"c": [pattern, str(tmp_path / "a/checkpoints/last.ckpt")]}).c)
    assert paths == [str(tmp_path / "a/checkpoints/last.ckpt"), str(tmp_path / "b/checkpoints/last.ckpt")]
    assert checkpoint_names(paths) == ["a_checkpoints_last", "b_checkpoints_last"]
    assert expand_checkpoints("plain.ckpt") == ["plain.ckpt"]  # no pattern: checked when loaded
    with pytest.raises(CheckpointError, match="no checkpoint matches"):
        expand_checkpoints(str(tmp_path / "*.nope"))


def test_several_checkpoints_give_one_row_each(tmp_path):
    cfg = OmegaConf.create({"ckpt": [str(tmp_path / "x/one.ckpt"), str(tmp_path / "y/two.ckpt")],
                            "paths": {"output_dir": str(tmp_path / "eval")}})
    seen = []

    def fake_evaluate(one):
        seen.append((one.ckpt, one.paths.output_dir))
        return {"test/acc": 0.5 if "one" in one.ckpt else 0.75, "test/num_samples": 8.0}

    results = evaluate_checkpoints(cfg, fake_evaluate)
    assert seen == [(str(tmp_path / "x/one.ckpt"), str(tmp_path / "eval/x_one")),
                    (str(tmp_path / "y/two.ckpt"), str(tmp_path / "eval/y_two"))]
    assert set(results) == {"x_one", "y_two"}
    table = (tmp_path / "eval" / "comparison.md").read_text().splitlines()
    assert table[0] == "| checkpoint | test/acc | test/num_samples |"
    assert table[2:] == ["| x_one | 0.5000 | 8.0000 |", "| y_two | 0.7500 | 8.0000 |"]
    assert cfg.paths.output_dir == str(tmp_path / "eval")  # the caller's config is left as it was
