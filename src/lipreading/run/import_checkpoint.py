"""Another implementation's checkpoint as one of ours, with its config and record.

    python -m lipreading.run.import_checkpoint format=tcn_reference path=resnet18_dctcn_video.pth out=dctcn.ckpt
    python -m lipreading.run.import_checkpoint format=tcn_reference path=FILE out=OUT.ckpt model=resnet18_dctcn data.use_boundary=true
    python -m lipreading.run.import_checkpoint format=auto_avsr path=vsr_trlrs3_base.pth out=auto_avsr_lrs3.ckpt
    python -m lipreading.run.import_checkpoint format=cnvsrc path=model_avg_cncvs_cnvsrc-single.pth out=cnvsrc_single.ckpt

``format`` names an entry of :data:`IMPORTERS`: a function of ``lipreading.interop.<format>`` that reads the file
and recognises it (:class:`~lipreading.interop.foreign.ForeignModel`). Our training config is composed from
conf/train.yaml with the overrides it proposes (``model=``, ``data=``, ``modality=``, ...), where any override given
here wins; the network is built from it, filled from the file by the format's key map and loaded strictly; the
checkpoint is written with :func:`~lipreading.run.checkpoint.write_checkpoint`, its record's origin
``import:<format>`` with the file's path and sha256. ``eval.py``, ``infer.py``, ``export.py`` and
``train.py init_from.model=`` then read it like one of our own (it holds no optimizer state: ``ckpt_path=`` is
refused with a pointer to ``init_from.model``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf, open_dict

from lipreading.interop.foreign import ForeignModel
from lipreading.interop.tcn_reference import import_tcn_reference
from lipreading.interop.auto_avsr import import_auto_avsr
from lipreading.interop.cnvsrc import import_cnvsrc
from lipreading.run.build import build_task, stored_config
from lipreading.run.checkpoint import training_record, write_checkpoint
from lipreading.run.configs import register_configs
from lipreading.run.metadata import environment
from lipreading.utils.errors import CheckpointError, ConfigError, friendly_errors
from lipreading.utils.validation import validate_training_config

log = logging.getLogger(__name__)

IMPORTERS: dict[str, Callable[[Path], ForeignModel]] = {
    "tcn_reference": import_tcn_reference,  # Lipreading_using_TCN's model zoo (word models, video and audio)
    "auto_avsr": import_auto_avsr,  # Auto-AVSR's released VSR models (sentences, English, SentencePiece units)
    "cnvsrc": import_cnvsrc,  # the CNVSRC baselines' Mandarin VSR models (Auto-AVSR forks, character units)
}

REQUIRED = ("format", "path", "out")
USAGE = ("usage: python -m lipreading.run.import_checkpoint format=" + "|".join(IMPORTERS)
         + " path=FILE out=OUT.ckpt [model=...] [data.use_boundary=...] [other train.py overrides]")


def importer(name: str) -> Callable[[Path], ForeignModel]:
    """The importer of format ``name``; :class:`ConfigError` listing the known formats otherwise."""
    if name not in IMPORTERS:
        raise ConfigError(f"unknown format={name!r}; known formats: {', '.join(IMPORTERS)}")
    return IMPORTERS[name]


def conf_dir() -> Path:
    """The repository's conf/ (``$LIPREADING_ROOT/conf``; by default the checkout this package lives in)."""
    root = Path(os.environ.get("LIPREADING_ROOT") or Path(__file__).resolve().parents[3])
    if not (root / "conf" / "train.yaml").is_file():
        raise ConfigError(f"{root / 'conf'} holds no train.yaml; run from a checkout of the repository or set "
                          "LIPREADING_ROOT to it")
    return root / "conf"


def merge_overrides(proposed: Sequence[str], given: Sequence[str]) -> list[str]:
    """``proposed`` overrides, less those whose key ``given`` sets too, then ``given`` (the user's win)."""
    keys = {o.split("=", 1)[0].lstrip("+~") for o in given}
    return [o for o in proposed if o.split("=", 1)[0] not in keys] + list(given)


def compose_training_config(overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """conf/train.yaml composed with ``overrides``, as train.py would (its run dir: ``output_dir``)."""
    root = conf_dir().parent
    os.environ.setdefault("LIPREADING_ROOT", str(root))
    register_configs()
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)  # train.py's is Hydra's run dir, unknown outside hydra.main
    return cfg


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_checkpoint(format: str, path: str | os.PathLike, out: str | os.PathLike,
                      overrides: Sequence[str] = ()) -> Path:
    """Write our checkpoint ``out`` from the foreign checkpoint ``path`` of ``format``; return ``out``."""
    path, out = Path(path), Path(out)
    foreign = importer(format)(path)
    log.info("%s: %s", path, foreign.description)
    cfg = compose_training_config(merge_overrides(foreign.overrides, overrides), out.resolve().parent)
    if foreign.vocabulary is not None and "vocabulary" in cfg.data:
        with open_dict(cfg):
            cfg.data.vocabulary = list(foreign.vocabulary)  # the data reads the classes in the file's order
    validate_training_config(cfg)
    task = build_task(cfg, foreign.units)
    state, report = foreign.map_onto(task.net)
    try:
        task.net.load_state_dict(state)
    except RuntimeError as e:  # a key map that left out or added a tensor: a bug of the importer
        raise CheckpointError(f"{path}: the mapped weights do not load into the network of "
                              f"{' '.join(merge_overrides(foreign.overrides, overrides))}: {str(e).splitlines()[0]}") from e
    record = training_record(cfg, environment()["git_commit"])
    record["input"].update(foreign.input)
    record.update(
        vocabulary=list(foreign.vocabulary) if foreign.vocabulary is not None else None,
        units=foreign.units.to_dict() if foreign.units is not None else None,
        origin={**record["origin"], "by": f"import:{format}", "source": str(path.resolve()), "sha256": sha256(path)},
    )
    config = stored_config(OmegaConf.to_container(cfg, resolve=True))
    write_checkpoint(out, task.state_dict(), config, record)
    log.info("%s -> %s: %s", path, out, report.summary())
    return out


def parse_arguments(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``format=``, ``path=``, ``out=`` and the training config's overrides (every other ``key=value``)."""
    named, overrides = {}, []
    for argument in argv:
        key, is_assignment, value = argument.partition("=")
        if not is_assignment:
            raise ConfigError(f"{argument!r} is not key=value; {USAGE}")
        if key in REQUIRED:
            named[key] = value
        else:
            overrides.append(argument)
    missing = [key for key in REQUIRED if not named.get(key)]
    if missing:
        raise ConfigError(f"give {', '.join(f'{k}=' for k in missing)}; {USAGE}")
    return named, overrides


@friendly_errors
def main(argv: Sequence[str] | None = None) -> Path:
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip() + "\n\n" + USAGE)
        sys.exit(0)
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    named, overrides = parse_arguments(argv)
    out = import_checkpoint(named["format"], named["path"], named["out"], overrides)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
