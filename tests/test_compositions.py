"""Every ablation is one override: each model config composes with every option of each of its groups.

For every model config of conf/model/ and every option that fits each group it fills (frontend,
backend, decoder, fusion, pooling, appearance, and the audio and video slots of the two-stream
models), Hydra's compose API builds ``model=M model/<group>=<option> ...``; the composed group node
must be the option's own config, unchanged (nothing the model file says leaks into it), and the
network, shrunk to tiny widths (tests/helpers/tiny.py), must train on one tiny batch.

The rows cover every (model, option) pair of every group and every pair of options of two groups
where one is built from the other's output (a backend and a decoder, a stream and the fusion, ...):
a covering design, since the full product of ~20 models and four or five groups of ~15 options is
thousands of compositions (about 0.07 s each). Whether every backend takes every frontend's real
output width is tests/models/test_model_zoo.py's question.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF
from tests.helpers.tiny import shrink

pytestmark = pytest.mark.usefixtures("single_thread")
MODEL_CONF = CONF / "model"
GROUPS = ("frontend", "backend", "decoder", "fusion", "pooling", "appearance")
AUDIO_FRONTEND = "lipreading.models.frontends.audio."
DELETED = "~"  # the option "no such part" (e.g. ~model/appearance: a separator without the appearance embedding)
# Slots whose module is built from another slot's output (its input_dim): their option pairs are covered.
DATAFLOW = {
    "WordClassifierNet": [("backend", "pooling")],
    "Seq2SeqNet": [("backend", "decoder")],
    "AudioVisualWordNet": [("video_frontend", "fusion"), ("audio_frontend", "fusion"), ("fusion", "backend"),
                           ("backend", "pooling")],
    "AudioVisualSeparator": [("video_frontend", "appearance"), ("video_backend", "appearance")],
    "LSTMLanguageModel": [],  # a token LM: no parts to swap
}
# Slots that a model may leave empty: the deletion is one of their options.
OPTIONAL_SLOTS = {"appearance"}


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (MODEL_CONF / group).glob("*.yaml"))


def _slots(model: str) -> dict[str, str]:
    """slot -> group of a model config, read from its defaults list (and those of the model configs it extends)."""
    slots: dict[str, str] = {}
    for entry in OmegaConf.load(MODEL_CONF / f"{model}.yaml").get("defaults", []):
        if isinstance(entry, str):
            if entry != "_self_":
                slots.update(_slots(entry))
            continue
        ((key, _),) = entry.items()
        key = key.removeprefix("override ")
        group, _, package = key.partition("@")
        slots[package or group] = group
    return slots


@lru_cache(maxsize=None)
def _target(group: str, option: str) -> str:
    """The class of an option, following the option files it extends."""
    cfg = OmegaConf.load(MODEL_CONF / group / f"{option}.yaml")
    if "_target_" in cfg:
        return cfg._target_
    return _target(group, next(e for e in cfg.defaults if isinstance(e, str) and e != "_self_"))


def _slot_options(slot: str, group: str) -> list[str]:
    options = _options(group)
    if group == "frontend":  # the audio slot takes audio frontends, the others the visual ones
        audio = slot == "audio_frontend"
        options = [o for o in options if _target(group, o).startswith(AUDIO_FRONTEND) == audio]
    return options + ([DELETED] if slot in OPTIONAL_SLOTS else [])


def covering_rows(factors: dict[str, list[str]], pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Rows (one value per factor) that together hold every value pair of each factor pair in ``pairs``.

    A greedy covering design: each row starts from the first pair still missing and takes, factor by
    factor, the value that completes the most missing pairs. Deterministic.
    """
    missing = {(a, x, b, y) for a, b in pairs for x in factors[a] for y in factors[b]}

    def completes(row: dict[str, str]) -> int:
        return sum((a, row[a], b, row[b]) in missing for a, b in pairs if a in row and b in row)

    rows = []
    while missing:
        a, x, b, y = min(missing)
        row = {a: x, b: y}
        for factor, values in factors.items():
            if factor not in row:
                row[factor] = max(values, key=lambda v: completes({**row, factor: v}))
        missing -= {(a, row[a], b, row[b]) for a, b in pairs}
        rows.append(row)
    return rows


MODELS = sorted(p.stem for p in MODEL_CONF.glob("*.yaml"))


def _kind(model: str) -> str:
    defaults_free = OmegaConf.load(MODEL_CONF / f"{model}.yaml")
    if "_target_" in defaults_free:
        return defaults_free._target_.rsplit(".", 1)[-1]
    return _kind(next(e for e in defaults_free.defaults if isinstance(e, str) and e != "_self_"))


def _rows() -> list:
    """pytest params: (model, {slot: option}) rows, per kind and slot signature."""
    families: dict[tuple, list[str]] = {}
    for model in MODELS:
        slots = _slots(model)
        families.setdefault((_kind(model), tuple(sorted(slots.items()))), []).append(model)
    params = []
    for (kind, slots), models in sorted(families.items()):
        factors = {"model": models, **{slot: _slot_options(slot, group) for slot, group in slots}}
        pairs = [("model", slot) for slot, _ in slots] + [p for p in DATAFLOW[kind] if set(p) <= set(factors)]
        for row in covering_rows(factors, pairs):
            choices = {slot: row[slot] for slot, _ in slots}
            params.append(pytest.param(row["model"], choices, id="-".join([row["model"], *choices.values()])))
    return params


ROWS = _rows()


def _choice(slot: str, group: str) -> str:
    """The slot's name among Hydra's choices and overrides: model/backend, model/frontend@model.video_frontend."""
    return f"model/{group}" if slot == group else f"model/{group}@model.{slot}"


def _override(slot: str, group: str, option: str) -> str:
    return f"~{_choice(slot, group)}" if option == DELETED else f"{_choice(slot, group)}={option}"


@pytest.fixture(scope="module")
def composer(tmp_path_factory):
    """Hydra's compose over conf/ under a throw-away primary config (7 classes, no Hydra logging)."""
    primary = tmp_path_factory.mktemp("conf") / "primary.yaml"
    primary.write_text(
        "defaults:\n  - _self_\n  - override hydra/job_logging: none\n  - override hydra/hydra_logging: none\n"
        f"data:\n  num_classes: 7\nsamples_per_frame: 640\nhydra:\n  searchpath:\n    - file://{CONF}\n"
    )  # the top-level keys the model configs interpolate (train.yaml's)
    with initialize_config_dir(config_dir=str(primary.parent), version_base="1.3"):
        yield lambda *overrides: compose("primary", overrides=list(overrides), return_hydra_config=True)


@pytest.fixture(scope="module")
def alone(composer):
    """The config of a group option composed on its own, as a plain container."""
    cache: dict[tuple[str, str], dict] = {}

    def get(group: str, option: str) -> dict:
        if (group, option) not in cache:
            cfg = composer(f"+model/{group}={option}")
            cache[group, option] = OmegaConf.to_container(cfg.model[group], resolve=False)
        return cache[group, option]

    return get


SENTENCE_IDS = {"vocab_size": 9, "blank_id": 0, "bos_id": 1, "eos_id": 2}  # a character tokenizer's ids


def _tiny_batch(kind: str, net: torch.nn.Module) -> torch.Tensor:
    """One training step's loss of ``net`` on 2 clips of 6 and 4 frames (32x32)."""
    torch.manual_seed(0)
    video, lengths = torch.randn(2, 1, 6, 32, 32), torch.tensor([6, 4])
    if kind == "WordClassifierNet":
        return net(video, lengths).square().mean()
    if kind == "AudioVisualWordNet":
        return net(video, lengths, audio=torch.randn(2, 6 * 640)).square().mean()
    if kind == "Seq2SeqNet":
        out = net(video, lengths, decoder_input=torch.tensor([[1, 5, 6], [1, 7, 0]]))
        return sum(value.float().square().mean() for key, value in out.items() if key != "memory")
    if kind == "AudioVisualSeparator":
        return net(torch.randn(2, 6 * 640), lengths, video).square().mean()
    if kind == "LSTMLanguageModel":
        return net(torch.tensor([[1, 5, 6], [1, 7, 0]])).float().square().mean()
    raise KeyError(f"no tiny batch for {kind}; add one to tests/test_compositions.py")


def test_every_model_kind_has_its_dataflow_and_every_option_is_covered() -> None:
    kinds = {_kind(m) for m in MODELS}
    assert kinds <= set(DATAFLOW), f"add the dataflow of {kinds - set(DATAFLOW)} to DATAFLOW"
    covered = {(model, slot, option) for param in ROWS for model, choices in [param.values] for slot, option in choices.items()}
    for model in MODELS:
        for slot, group in _slots(model).items():
            for option in _slot_options(slot, group):
                assert (model, slot, option) in covered


def test_every_word_model_offers_its_pooling() -> None:
    """`model/pooling=attention` works on every word classifier as a plain override (no `+`)."""
    for model in MODELS:
        if _kind(model) in ("WordClassifierNet", "AudioVisualWordNet"):
            assert _slots(model).get("pooling") == "pooling", f"{model}: add `- pooling: mean` to its defaults"


def test_covering_rows_hold_every_pair() -> None:
    factors = {"m": ["a", "b", "c"], "f": ["1", "2", "3", "4"], "g": ["x", "y"]}
    rows = covering_rows(factors, [("m", "f"), ("f", "g")])
    assert {(r["m"], r["f"]) for r in rows} == set(itertools.product("abc", "1234"))
    assert {(r["f"], r["g"]) for r in rows} == set(itertools.product("1234", "xy"))
    assert len(rows) == 12


@pytest.mark.parametrize(("model", "choices"), ROWS)
def test_model_composes_with_the_option_as_it_is_and_trains_a_tiny_batch(composer, alone, model, choices):
    slots = _slots(model)
    cfg = composer(f"+model={model}", *(_override(slot, slots[slot], option) for slot, option in choices.items()))
    chosen = cfg.hydra.runtime.choices
    assert {k for k in chosen if k.startswith("model/")} == {_choice(s, g) for s, g in slots.items() if choices[s] != DELETED}
    for slot, option in choices.items():
        group = slots[slot]
        if option == DELETED:
            assert slot not in cfg.model
            continue
        assert chosen[_choice(slot, group)] == option
        # The option as its own file says: no key of the model file has leaked into it.
        assert OmegaConf.to_container(cfg.model[slot], resolve=False) == alone(group, option), slot
    model_cfg = cfg.model
    shrink(model_cfg)
    kind = _kind(model)
    net = instantiate(model_cfg, **(SENTENCE_IDS if kind in ("Seq2SeqNet", "LSTMLanguageModel") else {})).train()
    loss = _tiny_batch(kind, net)
    loss.backward()
    assert torch.isfinite(loss)
    first_part = net.video_frontend if hasattr(net, "video_frontend") else getattr(net, "frontend", net)
    first = next(p for p in first_part.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0  # the loss reaches the first layer


SLOT_NAMES = {"frontend", "backend", "decoder", "fusion", "pooling", "appearance",
              "video_frontend", "audio_frontend", "video_backend"}


@pytest.mark.parametrize("config", sorted((CONF / "experiment").glob("*.yaml")) + sorted(MODEL_CONF.glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_config_writes_inside_a_model_part(config: Path) -> None:
    """A recipe or model picks a part by its defaults list (`override /model/backend: tcn_small_half`), never by
    setting that part's keys, which Hydra would merge into whatever option a later override chooses (a part set
    to null, e.g. a CTC model's `decoder: null`, is the model's own choice of having none)."""
    body = OmegaConf.load(config)
    model = body if config.parent == MODEL_CONF else body.get("model", {})
    nodes = [model] + [stage.get("model", {}) for stage in body.get("stages", {}).values() if isinstance(stage, dict)]
    for node in nodes:
        written = sorted(k for k in SLOT_NAMES & set(node.keys()) if node[k] is not None)  # null: no such part
        assert not written, f"{config} sets keys of {written}"
