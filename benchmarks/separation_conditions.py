"""The separation benchmark where the lips must matter: one table by condition, and fair step budgets.

    python -m benchmarks.separation_conditions table av=AV.ckpt audio=AUDIO.ckpt [--num-mixtures 200]
    python -m benchmarks.separation_conditions steptime [--rounds 3] [--steps 4]

``table`` evaluates every checkpoint on every condition of its data config (``eval.py
eval.conditions=all``: different sex, one sex with close pitch, the same voice, three speakers,
background noise, and any two speakers) and prints one markdown table: SI-SDRi, SDR and the
target-selection accuracy per condition and model (audio-only models are scored with the oracle
assignment and have no selection accuracy). Each run's reports stay in ``--out/NAME``; a model already
evaluated there on every condition with the same checkpoint and count is read, not evaluated again (so
models can be evaluated one process each, then tabulated together).

``steptime`` measures the training step (forward, loss, backward, AdamW; batch 16 of 29-frame
2-speaker mixtures, 1 thread) of each separator of :data:`STEP_MODELS`, each in its own process,
the processes alternating (A, B, C, A, B, C, ...) so that each sees the same load; it prints each
model's median seconds per step and its ratio to the first. Equal wall time then means giving each
model the number of steps that fits the same budget (docs/separation.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# name -> (modality, overrides of experiment=separation)
STEP_MODELS = {
    "audio-only (PIT)": ("audio", []),
    "audio-visual (av_separation separator)": ("av", ["model.visual_prior=true", "task.frozen=[video_frontend]"]),
    "audio-visual + fusion attention": ("av", ["model.visual_prior=true", "task.frozen=[video_frontend]",
                                               "model.unet.fusion_attention=2"]),
}
METRICS = (("si_sdri", "SI-SDRi"), ("sdr", "SDR"), ("selection_acc", "selection"))


def _step_seconds(modality: str, overrides: list[str], steps: int) -> float:
    """Median seconds of one training step of this separator, in this process (1 thread)."""
    import torch

    from benchmarks.separation import batch, build, train_step_seconds

    torch.manual_seed(0)
    task = build(modality, overrides)
    return train_step_seconds(task, batch(16, 29), steps, threads=1)


def steptime(rounds: int, steps: int, models: dict[str, tuple[str, list[str]]] = STEP_MODELS) -> dict[str, list[float]]:
    """Seconds per step of every model of ``models``, ``rounds`` processes each, alternating."""
    times: dict[str, list[float]] = {name: [] for name in models}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    for _ in range(rounds):
        for name, (modality, overrides) in models.items():
            code = ("import json, sys; from benchmarks.separation_conditions import _step_seconds; "
                    f"print(json.dumps(_step_seconds({modality!r}, {overrides!r}, {steps})))")
            out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
            times[name].append(float(out.stdout.strip().splitlines()[-1]))
            print(f"{name}: {times[name][-1]:.3f} s/step", file=sys.stderr, flush=True)
    reference = statistics.median(next(iter(times.values())))
    print("| model | s/step (median of processes) | each process | ratio |\n|---|---:|---|---:|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {', '.join(f'{v:.2f}' for v in values)} | {median / reference:.3f} |")
    return times


def table(checkpoints: dict[str, str], num_mixtures: int, out: Path, split: str = "test", conditions: str = "all") -> str:
    """Evaluate every checkpoint on every condition; the one markdown table (conditions x models)."""
    from hydra import compose, initialize_config_dir

    from lipreading.run.checkpoint import read_checkpoint
    from lipreading.run.configs import register_configs
    from lipreading.run.separation_conditions import evaluate_conditions

    register_configs()  # eval.yaml's checkpoint_overrides group, as eval.py registers it
    results = {}
    for name, path in checkpoints.items():
        done = out / name / "conditions.json"
        if done.is_file():  # evaluated before (e.g. one process per model): reused when it is the same evaluation
            earlier = json.loads(done.read_text())
            if earlier["checkpoint"] == str(path) and earlier["split"] == split and conditions == "all" and all(
                    row["mixtures"] == num_mixtures for row in earlier["conditions"].values()):
                results[name] = earlier["conditions"]
                continue
        with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("eval", overrides=[f"ckpt={path}", f"split={split}", f"eval.conditions={conditions}",
                                             f"eval.num_mixtures={num_mixtures}", f"paths.output_dir={out / name}",
                                             "+trainer.enable_progress_bar=false"])
        evaluate_conditions(cfg, read_checkpoint(path))
        results[name] = json.loads((out / name / "conditions.json").read_text())["conditions"]
    conditions = list(dict.fromkeys(c for r in results.values() for c in r))
    header = ["condition", "mixtures", "input SI-SDR"] + [f"{label} {name}" for name in results for _, label in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for condition in conditions:
        first = next(r[condition] for r in results.values() if condition in r)
        cells = [condition, f"{first['mixtures']:.0f}", f"{first['input_si_sdr']:.2f}"]
        for r in results.values():
            row = r.get(condition, {})
            for key, _ in METRICS:
                value = row.get(key, float("nan"))
                cells.append("oracle" if key == "selection_acc" and value != value else
                             f"{100 * value:.1f}%" if key == "selection_acc" else f"{value:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    (out / "table.md").write_text(text + "\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    timing = commands.add_parser("steptime", help="seconds per training step, alternating processes")
    timing.add_argument("--rounds", type=int, default=3)
    timing.add_argument("--steps", type=int, default=4)
    evaluation = commands.add_parser("table", help="the table by condition of NAME=CKPT checkpoints")
    evaluation.add_argument("checkpoints", nargs="+", help="NAME=PATH, one per model")
    evaluation.add_argument("--num-mixtures", type=int, default=200)
    evaluation.add_argument("--split", default="test")
    evaluation.add_argument("--conditions", default="all", help="all, or [name,name,...] of the data config's conditions")
    evaluation.add_argument("--out", type=Path, default=Path("outputs/separation_conditions"))
    args = parser.parse_args()
    if args.command == "steptime":
        steptime(args.rounds, args.steps)
        return
    named = dict(item.split("=", 1) for item in args.checkpoints)
    print(table(named, args.num_mixtures, args.out, args.split, args.conditions))


if __name__ == "__main__":
    main()
