"""Preprocess raw video into mouth-region clips: `python preprocess.py [key=value ...]`.

Examples:
    python preprocess.py dataset=lrw input_dir=/data/lipread_mp4 output_dir=data/lrw/roi workers=2
    python preprocess.py dataset=lrw1000 input_dir=/data/LRW1000_Public output_dir=data/lrw1000/roi
    python preprocess.py video=my.mp4 output=roi.npz roi.crop_size=88 roi.face=largest preview=true

The one command line for preprocessing; its options are conf/preprocess.yaml and the fields of
lipreading.preprocessing.PreprocessConfig (``roi.*``). Own videos: docs/preprocessing.md.
"""

import logging
import os
from pathlib import Path

os.environ.setdefault("LIPREADING_ROOT", str(Path(__file__).resolve().parent))

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from lipreading.data.clip import save_clip  # noqa: E402
from lipreading.preprocessing import preprocess_video, process_listing, register_configs  # noqa: E402
from lipreading.utils.errors import friendly_errors  # noqa: E402

log = logging.getLogger(__name__)
USAGE = (
    "say what to preprocess: dataset=lrw|lrw1000|chinese_lips input_dir=RAW output_dir=OUT "
    "[workers=N], or video=VIDEO.mp4 output=ROI.npz"
)


@hydra.main(version_base="1.3", config_path="conf", config_name="preprocess")
@friendly_errors
def main(cfg: DictConfig) -> None:
    config = OmegaConf.to_object(cfg.roi)
    if cfg.video is not None:
        if cfg.output is None:
            raise SystemExit(f"video={cfg.video} needs output=ROI.npz; {USAGE}")
        clip, report = preprocess_video(cfg.video, config)
        log.info("%s", report.text())
        save_clip(cfg.output, clip)
        log.info("wrote %s", cfg.output)
        if cfg.preview:
            log.info("preview written to %s", report.write_preview(Path(cfg.output).with_suffix(".preview.jpg")))
        return
    if cfg.get("dataset") is None or cfg.input_dir is None or cfg.output_dir is None:
        raise SystemExit(USAGE)
    summary = process_listing(
        hydra.utils.instantiate(cfg.dataset), cfg.output_dir, config, cfg.workers
    )
    log.info("%s", summary.report())


if __name__ == "__main__":
    register_configs()
    main()
