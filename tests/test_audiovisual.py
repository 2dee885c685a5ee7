"""modality, init_from and staged training of the audio-visual word models."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from lipreading.data.datamodules import WordDataModule
from lipreading.data.synthetic.espeak import espeak_available
from lipreading.data.transforms import EvalVideoTransform
from lipreading.run.build import build_task, load_stream_weights
from lipreading.run.stages import stage_config
from lipreading.utils.errors import ConfigError
from lipreading.utils.validation import validate_training_config
from tests.conftest import write_word_dataset


def test_audio_modalities_on_a_dataset_without_audio_stop_at_start_up(compose_train):
    with pytest.raises(ConfigError, match="modality=av needs a dataset with audio"):
        validate_training_config(compose_train("modality=av"))
    with pytest.raises(ConfigError, match="modality=audio needs a model with an audio frontend"):
        validate_training_config(compose_train("data=synthetic_av_words", "modality=audio"))
    with pytest.raises(ConfigError, match="not one of video, audio, av"):
        validate_training_config(compose_train("modality=sound"))
    validate_training_config(compose_train("data=synthetic_av_words", "model=av_small_tcn", "modality=av"))


def test_a_dataset_whose_clips_have_no_audio_is_an_error_at_set_up(tmp_path: Path):
    write_word_dataset(tmp_path / "roi", ["ABOUT", "WORLD"], per_split=2)
    transform = EvalVideoTransform(44, 0.4, 0.2)
    datamodule = WordDataModule(str(tmp_path / "roi"), 2, transform, transform, modality="audio")
    with pytest.raises(ConfigError, match=r"modality=audio needs audio, but the clips of .* have none"):
        datamodule.setup("fit")
    WordDataModule(str(tmp_path / "roi"), 2, transform, transform, modality="video").setup("fit")


@pytest.mark.parametrize("modality", ["video", "audio", "av"])
def test_modality_builds_only_the_streams_it_reads(compose_train, modality):
    net = build_task(compose_train("data=synthetic_av_words", "model=av_small_tcn", f"modality={modality}")).net
    assert net.modality == modality
    assert (net.video_frontend is None) == (modality == "audio")
    assert (net.audio_frontend is None) == (modality == "video")


def _save(task, path: Path, config) -> str:
    torch.save({"state_dict": task.state_dict(), "config": OmegaConf.to_container(config, resolve=True)}, path)
    return str(path)


def test_init_from_copies_both_frontends_including_from_a_video_only_zoo_model(compose_train, tmp_path: Path):
    audio_cfg = compose_train("data=synthetic_av_words", "model=av_small_tcn", "modality=audio")
    video_cfg = compose_train("data=synthetic_av_words", "data.num_classes=10")  # the demo's WordClassifierNet
    audio_ckpt = _save(build_task(audio_cfg), tmp_path / "audio.ckpt", audio_cfg)
    video_task = build_task(video_cfg)
    video_ckpt = _save(video_task, tmp_path / "video.ckpt", video_cfg)
    av = build_task(compose_train("data=synthetic_av_words", "model=av_small_tcn", "modality=av")).net
    load_stream_weights(av, {"audio": audio_ckpt, "video": video_ckpt})
    audio_state = torch.load(audio_ckpt, weights_only=False)["state_dict"]
    torch.testing.assert_close(av.audio_frontend.stem.weight, audio_state["net.audio_frontend.stem.weight"])
    for name, value in video_task.net.frontend.state_dict().items():
        torch.testing.assert_close(av.video_frontend.state_dict()[name], value)
    video_only = build_task(compose_train("data=synthetic_av_words", "model=av_small_tcn", "modality=video")).net
    with pytest.raises(ConfigError, match="init_from.audio=.*: the model has no audio frontend"):
        load_stream_weights(video_only, {"audio": audio_ckpt})


def test_stage_references_become_the_earlier_stages_checkpoints(compose_train, tmp_path: Path):
    cfg = compose_train("experiment=av_synthetic_words")
    stage = stage_config(cfg, "av", tmp_path / "av", {"audio": "a.ckpt", "video": "v.ckpt"})
    assert stage.modality == "av" and dict(stage.init_from) == {"model": None, "audio": "a.ckpt", "video": "v.ckpt"}
    assert stage.trainer.max_epochs == 4 and "stages" not in stage and stage.paths.output_dir == str(tmp_path / "av")
    with pytest.raises(ConfigError, match="names no earlier stage"):
        stage_config(cfg, "av", tmp_path / "av", {"audio": "a.ckpt"})


def test_a_stage_can_train_another_task_on_part_of_the_runs_config(compose_train, tmp_path: Path):
    cfg = compose_train("experiment=av_separation", "data.clips.num_classes=7")
    lips = stage_config(cfg, "lips", tmp_path / "lips", {})
    # The lipreading stage: the separation clips' own datamodule (not merged into the mixtures'),
    # a word classifier and the word task; its dotted key applied last.
    assert lips.data._target_ == cfg.data.clips._target_ and "num_speakers" not in lips.data
    assert lips.data.root == cfg.data.clips.root and lips.data.modality == "video" and lips.modality == "video"
    assert lips.model._target_.endswith("WordClassifierNet") and "unet" not in lips.model
    assert lips.task._target_.endswith("WordClassificationTask") and "selection_weight" not in lips.task
    model = build_task(lips).net
    assert model.head.out_features == 7  # ${data.num_classes} resolved in the stage's own config
    separation = stage_config(cfg, "separation", tmp_path / "separation", {"lips": "lips.ckpt"})
    assert separation.data._target_ == cfg.data._target_ and separation.init_from.video == "lips.ckpt"
    assert list(separation.task.frozen) == ["video_frontend"] and separation.model.visual_prior is True
    with open_dict(cfg):
        cfg.stages.lips.data = "${data.nowhere}"
    with pytest.raises(ConfigError, match="stages.lips.data=\\$\\{data.nowhere\\} names no part of the run's config"):
        stage_config(cfg, "lips", tmp_path / "lips", {})


@pytest.mark.slow
@pytest.mark.skipif(not espeak_available(), reason="needs the optional speech extra (pip install '.[speech]')")
def test_staged_experiment_runs_all_stages_and_resumes(tmp_path: Path):
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    command = [
        sys.executable, "train.py", "experiment=av_synthetic_words", f"hydra.run.dir={run_dir}",
        f"paths.data_dir={tmp_path / 'data'}", "data.num_classes=3", "data.clips_per_word={train:16,val:3,test:3}",
        "data.batch_size=8", "trainer.max_epochs=1", "stages.audio.trainer.max_epochs=1", "stages.av.trainer.max_epochs=1",
        "snr_evaluation.noises=[white]",
    ]
    subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1], capture_output=True)
    assert {"audio", "video", "av"} <= {p.name for p in run_dir.iterdir()}
    assert "| av |" in (run_dir / "snr.md").read_text() and (run_dir / "snr.png").is_file()
    first = (run_dir / "av" / "metrics.json").stat().st_mtime
    result = subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    assert (run_dir / "av" / "metrics.json").stat().st_mtime == first  # finished stages are skipped
    assert "done earlier" in result.stderr + result.stdout
