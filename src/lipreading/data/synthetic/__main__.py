"""Look at the synthetic word data: ``python -m lipreading.data.synthetic --preview out.png``.

``--preview PNG`` writes a montage (one clip per row, its frames left to right, labelled with
the word), ``--gif GIF`` an animation of the same clips side by side, ``--homophenes`` prints
LRW's homophene groups (the words the default vocabulary leaves out).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .visemes import default_vocabulary, homophene_groups, viseme_string
from .words import clip_rng, make_word_clip


def preview_clips(num_clips: int, frame_size: int, num_frames: int, fps: float, seed: int) -> list:
    """The first clip of each of the first ``num_clips`` default words (the dataset's "train" clip 0)."""
    return [
        make_word_clip(word, clip_rng(seed, "train", word, 0), seed, num_frames, fps, frame_size)
        for word in default_vocabulary(num_clips)
    ]


def montage(clips: Sequence, every: int = 1) -> np.ndarray:
    """One row per clip: a label strip, then every ``every``-th frame; grayscale uint8."""
    rows = []
    for clip in clips:
        frames = list(clip.video[::every])
        size = frames[0].shape[0]
        label = np.full((size, 3 * size), 255, dtype=np.uint8)
        scale = size / 96
        cv2.putText(label, clip.label, (2, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.55 * scale,
                    0, max(1, round(scale)), cv2.LINE_AA)
        boundary = clip.boundary()[::every]
        # a dark bar under the frames inside the target word
        bars = [np.full((max(2, size // 16), size), 0 if inside else 255, np.uint8) for inside in boundary]
        strip = np.vstack([np.hstack(frames), np.hstack(bars)])
        label = np.vstack([label, np.full((strip.shape[0] - size, label.shape[1]), 255, np.uint8)])
        rows.append(np.hstack([label, strip]))
    return np.vstack(rows)


def write_gif(path: Path, clips: Sequence, fps: float) -> None:
    """An animated GIF of ``clips`` side by side (needs Pillow, which matplotlib brings)."""
    from PIL import Image

    video = np.concatenate([clip.video for clip in clips], axis=2)  # (T, H, N*W)
    images = [Image.fromarray(frame) for frame in video]
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def print_homophenes() -> None:
    exact = homophene_groups(merge_repeats=False)
    merged = homophene_groups()
    print(f"identical viseme strings: {len(exact)} groups, {sum(map(len, exact))} words")
    print(f"with repeated visemes merged: {len(merged)} groups, {sum(map(len, merged))} words "
          "(left out of the default vocabulary):")
    for group in merged:
        print(f"  {' '.join(viseme_string(group[0]))}: {', '.join(group)}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lipreading.data.synthetic", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preview", type=Path, help="write a montage of clips to this PNG")
    parser.add_argument("--gif", type=Path, help="write the clips as an animated GIF")
    parser.add_argument("--homophenes", action="store_true", help="print LRW's homophene groups")
    parser.add_argument("--clips", type=int, default=6, help="clips to show (default 6)")
    parser.add_argument("--frame-size", type=int, default=96, help="frame size in pixels (default 96)")
    parser.add_argument("--num-frames", type=int, default=29)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.preview or args.gif or args.homophenes):
        parser.error("nothing to do: give --preview PNG, --gif GIF and/or --homophenes")
    if args.homophenes:
        print_homophenes()
    if args.preview or args.gif:
        clips = preview_clips(args.clips, args.frame_size, args.num_frames, args.fps, args.seed)
        if args.preview:
            if not cv2.imwrite(str(args.preview), montage(clips)):
                raise SystemExit(f"could not write {args.preview} (does its folder exist?)")
            print(f"wrote {args.preview}")
        if args.gif:
            write_gif(args.gif, clips, args.fps)
            print(f"wrote {args.gif}")


if __name__ == "__main__":
    main()
