"""The raw CN-CVS and CNVSRC downloads, listed by the CNVSRC baselines' label lists, for ``preprocess.py``.

CN-CVS: C. Chen, D. Wang, T. F. Zheng, "CN-CVS: A Mandarin audio-visual dataset for large vocabulary continuous
visual to speech synthesis", ICASSP 2023 (cncvs.cslt.org); CNVSRC.Single / CNVSRC.Multi: the challenge's
development sets (cnceleb.org/competition). Layout once the archives are unpacked, as the CNVSRC 2024 baseline's
``preparation/README.md`` gives it (github.com/sectum1919/CNVSRC2024Baseline at 3464e7c; the same in CNVSRC 2023 and
2025)::

    ROOT/                                     # e.g. CNVSRC/CNVSRC2024/
      cncvs/news/n001/video/n001_00001_001.mp4     # speaker videos (the audio in .../audio/)
      cncvs/speech/s00001/video/s00001_001_00001.mp4
      cnvsrc-single/dev/video/00023065.mp4  cnvsrc-multi/dev/video/80100246.mp4

The transcripts come with the baseline, not the download: its ``data/<name>/{train,valid,test}.csv``
(``lists``; the 2023 baseline's ``data/cncvs/`` ... too) hold one clip a row, ``dataset,rel_path,frames,token_ids``,
the video being ``ROOT/<dataset>/<rel_path>`` and the ids those of its ``datamodule/char_units.txt`` (``units_file``):
the text is their decoding (:class:`CharListUnits`). Rows whose video is missing, whose ids fall outside the units
or include ``<unk>`` (a character the list lacks: its text would be unknown) are left out and reported; a malformed
row is an error naming its file and line. Videos are cropped to the mouth like any raw video (our alignment, not
the baseline's RetinaFace + FAN). Output: ``OUT/{train,val,test}/<dataset>_<clip>.npz`` and the manifests;
``data=cncvs`` reads them.
NOTE: CNVSRC.Single/Multi have no test list (their baseline tests on ``valid.csv``): list ``splits=[train,val]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from lipreading.data.auto_avsr import read_label_list
from lipreading.data.tokenizer import CharListUnits
from lipreading.preprocessing.items import LayoutError, Listing, VideoItem, check_splits

LIST_FILES = {"train": "train.csv", "val": "valid.csv", "test": "test.csv"}


def speaker_of(relative: Path, dataset: str) -> str:
    """The speaker folder of a clip (``speech/s00001/video/x.mp4`` -> ``s00001``), else the dataset's name."""
    return relative.parts[-3] if len(relative.parts) >= 3 else dataset


def cncvs_listing(
    root: str | os.PathLike, lists: str | os.PathLike, units_file: str | os.PathLike,
    splits: tuple[str, ...] = tuple(LIST_FILES),
) -> Listing:
    """Every clip that the baseline's lists (``lists``/{train,valid,test}.csv) name for ``splits``, under ``root``."""
    root, lists = Path(root), Path(lists)
    check_splits("CN-CVS", splits, LIST_FILES)
    units = CharListUnits.from_file(units_file)
    listing = Listing()
    for split in splits:
        path = lists / LIST_FILES[split]
        if not path.is_file():
            raise LayoutError(f"{path}: label list missing; expected the CNVSRC baseline's data/<name>/{LIST_FILES[split]} "
                              f"in {lists} (CNVSRC.Single/Multi have no test.csv: set splits=[train,val])")
        manifest = read_label_list(root, path, units, f"the baseline's {units_file}")
        listing.skipped += manifest.skipped
        for utterance in manifest.utterances:
            dataset, relative = utterance.id.split("/", 1)
            if units.unk_id in utterance.tokens:
                listing.skipped.append(f"{path.name}: {dataset}/{relative}: its ids hold <unk> (a character {units_file} lacks)")
                continue
            listing.items.append(VideoItem(
                video=utterance.path, output=f"{split}/{dataset}_{utterance.path.stem}.npz", label=utterance.text,
                split=split, speaker=speaker_of(Path(relative), dataset),
            ))
    if not listing.items:
        raise LayoutError(f"{root}: no clip of the lists in {lists} found; expected ROOT/<dataset>/<rel_path> "
                          "(e.g. ROOT/cncvs/speech/s00001/video/s00001_001_00001.mp4)")
    return listing
