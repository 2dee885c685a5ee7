"""What infer.py reads in one video of a word or sentence checkpoint: printed, and written as transcript.json."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from lipreading.data.clip import Clip
from lipreading.run.mouth import write_roi
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)


@dataclass
class Transcript:
    """What infer.py found: the top words (word models) or the decoded text (sentence models)."""

    words: list[tuple[str, float]] = field(default_factory=list)
    text: str | None = None
    cer: float | None = None

    def report(self) -> str:
        if self.text is None:
            return "\n".join(f"{word:>16s}  {probability:.4f}" for word, probability in self.words)
        lines = [f"hypothesis: {self.text}"]
        if self.cer is not None:
            lines.append(f"CER: {self.cer:.4f}")
        return "\n".join(lines)


def write_transcript(cfg: DictConfig, clip: Clip, result: Transcript) -> Transcript:
    """Write transcript.json (and with ``save_roi`` the mouth crop) into the run dir; print the result."""
    output_dir = Path(cfg.paths.output_dir)
    if cfg.save_roi:
        for path in write_roi(clip, output_dir):
            log.info("mouth crop written to %s", path)
    atomic_write_json(output_dir / "transcript.json", {
        "video": str(cfg.video), "checkpoint": str(cfg.ckpt), "frames": clip.num_frames,
        "text": result.text, "cer": result.cer, "ground_truth": cfg.get("ground_truth"),
        "top_words": [{"word": w, "probability": p} for w, p in result.words],
    })
    print(result.report())
    return result
