"""Runs over datasets: raw videos (or pre-cropped mouth images) to the project's mouth-region clips.

One video is :func:`lipreading.preprocessing.mouth.preprocess_video`. A dataset: :func:`process_listing` runs the items a reader listed over worker processes with a
progress bar, skips outputs that already exist and load (so a stopped run resumes), writes each
clip atomically, never lets one bad file stop the run, and returns a :class:`Summary`.
"""

from __future__ import annotations

import csv
import logging
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
from tqdm import tqdm

from lipreading.data.clip import Clip, ClipError, load_clip, save_clip
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.utils.io import remove_stale_temporaries

if TYPE_CHECKING:
    from lipreading.preprocessing.items import Listing

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("id", "path", "num_frames", "text")


class Item(Protocol):
    """One clip to produce: where it comes from, where it goes, and its label."""

    output: str  # path of the .npz relative to the output directory
    label: str
    split: str

    @property
    def source(self) -> Path: ...

    def to_clip(self, config: PreprocessConfig) -> tuple[Clip, str]: ...


def mouth_frames_clip(frames: Sequence[Path], fps: float, config: PreprocessConfig) -> Clip:
    """A clip from images at ``fps`` that are mouth regions already (LRW-1000), resized."""
    size = (config.crop_size, config.crop_size)
    colour = cv2.COLOR_BGR2GRAY if config.grayscale else cv2.COLOR_BGR2RGB
    crops = []
    for path in frames:
        # imdecode(fromfile) rather than imread: it reads non-ASCII paths on every platform.
        image = (
            cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
            if path.is_file()
            else None
        )
        if image is None:
            raise ClipError(
                f"{path}: missing or unreadable image; restore it from the dataset archive"
            )
        crops.append(cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), colour))
    return Clip(video=np.stack(crops), fps=fps)


@dataclass
class Result:
    """What happened to one item."""

    item: Item
    status: str  # "processed", "existing" or "failed"
    num_frames: int = 0
    note: str = ""  # the failure's reason, or a remark such as a resampling


@dataclass
class Summary:
    """The outcome of a run: counts, reasons for each failure, throughput."""

    results: list[Result] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)  # metadata entries the reader left out
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """How many items ended with ``status``."""
        return sum(r.status == status for r in self.results)

    @property
    def frames_per_second(self) -> float:
        """Output frames of the newly processed clips per second of wall time."""
        frames = sum(r.num_frames for r in self.results if r.status == "processed")
        return frames / self.seconds if self.seconds > 0 else 0.0

    def report(self) -> str:
        """A human-readable account of the run."""
        lines = [
            f"processed {self.count('processed')}, already done {self.count('existing')}, "
            f"failed {self.count('failed')}, left out of the listing {len(self.unlisted)} "
            f"in {self.seconds:.1f} s ({self.frames_per_second:.1f} frames/s)"
        ]
        lines += [f"  left out: {reason}" for reason in self.unlisted]
        lines += [f"  skipped: {r.note}" for r in self.results if r.status == "failed"]
        lines += [f"  note: {r.note}" for r in self.results if r.status != "failed" and r.note]
        return "\n".join(lines)


def process_item(item: Item, output_dir: Path, config: PreprocessConfig) -> Result:
    """Produce one item's clip under ``output_dir`` unless a readable one is there already."""
    target = output_dir / item.output
    note = ""
    if target.exists():
        try:
            return Result(item, "existing", load_clip(target).num_frames)
        except ClipError as e:
            note = f"{e}; replaced it"
    try:
        clip, remark = item.to_clip(config)
        save_clip(target, clip)
    except Exception as e:  # one bad file must never stop a run over thousands
        reason = str(e) if str(item.source) in str(e) else f"{item.source}: {e}"
        return Result(item, "failed", note=reason)
    return Result(item, "processed", clip.num_frames, "; ".join(filter(None, (note, remark))))


def process_listing(
    listing: Listing,
    output_dir: str | os.PathLike,
    config: PreprocessConfig | None = None,
    workers: int = 1,
) -> Summary:
    """Produce every listed clip (on ``workers`` processes; 1 runs here), write manifests."""
    items = listing.items
    output_dir = Path(output_dir)
    if output_dir.is_dir() and (stale := remove_stale_temporaries(output_dir)):
        log.info("%s: removed %d partial file(s) of an interrupted run", output_dir, stale)
    work = partial(process_item, output_dir=output_dir, config=config or PreprocessConfig())
    start = time.perf_counter()
    summary = Summary(unlisted=list(listing.skipped))
    progress = partial(tqdm, total=len(items), desc="preprocess", unit="clip", dynamic_ncols=True)
    if workers <= 1:
        summary.results = [work(item) for item in progress(items)]
    else:
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            summary.results = list(progress(pool.imap_unordered(work, items)))
    summary.seconds = time.perf_counter() - start
    write_manifests(output_dir, summary.results)
    return summary


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one core per worker; OpenCV's own threads would oversubscribe


def write_manifests(output_dir: Path, results: Iterable[Result]) -> None:
    """Write ``{split}.csv`` (id, path, num_frames, text) listing each split's clips on disk."""
    rows: dict[str, list[tuple[str, str, int, str]]] = {}
    for r in results:
        if r.status != "failed":
            path = Path(r.item.output)
            rows.setdefault(r.item.split, []).append(
                (path.stem, path.as_posix(), r.num_frames, r.item.label)
            )
    for split, split_rows in rows.items():
        target = output_dir / f"{split}.csv"
        fd, tmp = tempfile.mkstemp(prefix=f".{split}.", suffix=".csv.tmp", dir=output_dir)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(MANIFEST_COLUMNS)
            writer.writerows(sorted(split_rows))
        os.replace(tmp, target)
