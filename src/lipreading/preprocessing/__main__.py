"""Command line without Hydra, for an installed package: ``python -m lipreading.preprocessing``.

    python -m lipreading.preprocessing video my.mp4 roi.npz [--crop-size 88 ...]
    python -m lipreading.preprocessing lrw /data/lipread_mp4 data/lrw/roi --workers 2 --splits val

Every field of :class:`PreprocessConfig` is an option (``--crop-size``, ``--no-grayscale`` ...).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable, Sequence

from lipreading.data.chinese_lips import chinese_lips_listing
from lipreading.data.clip import save_clip
from lipreading.data.lrw import lrw_listing
from lipreading.data.lrw1000 import lrw1000_listing
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.items import Listing
from lipreading.preprocessing.pipeline import preprocess_video, process_listing

LISTINGS: dict[str, Callable[..., Listing]] = {
    "lrw": lrw_listing,
    "lrw1000": lrw1000_listing,
    "chinese_lips": chinese_lips_listing,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line: what to preprocess, where to, and the crop settings."""
    parser = argparse.ArgumentParser(
        prog="python -m lipreading.preprocessing", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "source", choices=["video", *LISTINGS], help="one video, or a raw dataset layout"
    )
    parser.add_argument("input", help="the video file, or the raw dataset folder")
    parser.add_argument("output", help="the .npz file, or the output folder")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for a dataset")
    parser.add_argument(
        "--splits", nargs="+", default=["train", "val", "test"], help="dataset splits to process"
    )
    for f in dataclasses.fields(PreprocessConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    config = PreprocessConfig(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(PreprocessConfig)}
    )
    if args.source == "video":
        save_clip(args.output, preprocess_video(args.input, config))
        print(f"wrote {args.output}")
        return
    listing = LISTINGS[args.source](args.input, splits=tuple(args.splits))
    summary = process_listing(listing, args.output, config, args.workers)
    print(summary.report())


if __name__ == "__main__":
    main()
