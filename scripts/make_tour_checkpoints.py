"""Make the small pre-trained VAE checkpoints the lecture tour ships (resources/tours/).

The tour's VAE stops (Figure 8 training curves, Figures 10-11 latent spaces, Figure 12
samples and interpolation) open these instead of training for a minute on screen; the
user can press Reset and Play to train again from scratch. Reproducible: fixed seeds,
one torch thread, the CPU. Run from the repository root::

    python scripts/make_tour_checkpoints.py            # all three, ~1 min on 1 core
    python scripts/make_tour_checkpoints.py --check    # verify the shipped files' configs

Each file is the digits VAE of the VAE page's defaults (2-D latent, 256 hidden units)
trained for STEPS Adam steps on one objective: the ELBO, reconstruction only, KL only,
with its frame file (``vae-elbo.frame.npz``: the views, drawn the moment a stop opens
the model; ``--frames`` writes only these, from the shipped checkpoints).
The Figure 14 stop's ``cvae-column.pt`` is the digits CVAE of the middle-column task
(256-256 hidden, z = 16, KL warm-up 30 epochs, early stopping with patience 10 on the
validation split), trained by the CLI's own code path, about 10 s, with its frame (``--cvae-frame``).
The Figure 15 stop's ``bbb-regression.pt`` is BBB regression page's default run (the
paper's curve, 1-64-64-1 nets, seed 0) after BBB_STEPS steps, with its frame file
(``--bbb`` writes only these two). The gradient-estimator stops (10-11) play 30 steps and
the black-box VI stops (13-14) 250 steps live from fixed seeds; ``--scene-frames`` writes
the frame each ends on, named by a digest of the stop (``vi-<section>-<digest>.frame.npz``,
vigui/pages/frames.py), a few seconds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEPS = 3000  # ~210 epochs of the digits' training split: the curves have flattened
SEED = 0
MODES = {"elbo": "vae-elbo.pt", "recon": "vae-recon.pt", "kl": "vae-kl.pt"}
OUT = ROOT / "resources" / "tours"


def config(mode: str):
    from engine.vae.model import VAEConfig

    return VAEConfig(dataset="digits", latent=2, hidden=(256,), beta=1.0, lr=1e-3,
                     batch_size=128, loss_mode=mode, likelihood="bernoulli", device="cpu",
                     threads=1).validate()


def make(mode: str, steps: int = STEPS) -> Path:
    import torch

    from engine.vae.model import VAEExperiment

    torch.set_num_threads(1)
    exp = VAEExperiment(config(mode), seed=SEED)
    while exp.steps < steps:
        exp.step()
    path = OUT / MODES[mode]
    exp.save(path)
    make_frame(path, exp)
    return path


def make_frame(path: Path, exp=None) -> Path:
    """``name.frame.npz`` beside the checkpoint: the views its page shows (latent space,
    decoded grid, reconstructions, samples, the path between the two farthest class
    centres), drawn at once when a tour stop opens the file (vigui/pages/frames.py)."""
    import numpy as np
    import torch

    from engine.vae.model import VAEExperiment
    from vigui.pages.frames import frame_path, save_frame
    from vigui.pages.vae.views import N_INTERP, demo_pair

    torch.set_num_threads(1)
    if exp is None:
        exp = VAEExperiment.load(path, device="cpu", threads=1)
    snap = {**exp.heavy_snapshot(), **exp.snapshot()}
    snap.pop("samples_per_s", None)  # a rate of this machine, not of the run
    a, b = demo_pair(snap["latent"], snap["labels"])
    snap.update(interp_a=np.array(a), interp_b=np.array(b),
                interp=exp.interpolate(np.array(a), np.array(b), N_INTERP))
    return save_frame(frame_path(path), snap)


CVAE_FILE = "cvae-column.pt"
CVAE_FLAGS = ["--dataset", "digits", "--task", "column", "--hidden", "256,256", "--latent", "16",
              "--kl-warmup", "30", "--free-bits", "0", "--patience", "10", "--epochs", "400",
              "--seed", str(SEED), "--threads", "1", "--device", "cpu", "--quiet"]


def make_cvae() -> Path:
    from engine import cli

    path = OUT / CVAE_FILE
    if cli.main(["cvae", *CVAE_FLAGS, "--out", str(path)]) != 0:
        raise SystemExit("training the tour's CVAE failed")
    return path


def make_cvae_frame(path: Path | None = None) -> Path:
    """The CVAE page's views of the shipped file: the Figure 14 strip (its snapshot at the
    page's 4 samples) and the drawing tab's test image 0 with its completions (N_DRAW, seed
    0), as the page asks the loaded model for them; drawn at once when the stop opens it."""
    import torch

    from engine.cvae import CVAEExperiment
    from vigui.pages.cvae import N_DRAW
    from vigui.pages.frames import frame_path, save_frame

    torch.set_num_threads(1)
    path = path or OUT / CVAE_FILE
    exp = CVAEExperiment.load(path, device="cpu", threads=1)
    snap = exp.snapshot()
    for key in ("device", "samples_per_s"):  # this machine's, not the run's
        snap.pop(key, None)
    image = exp.test_image(0)
    out = exp.complete(image, N_DRAW, seed=0)
    snap.update(canvas_image=image, draw_baseline=out["baseline"], draw_samples=out["samples"])
    return save_frame(frame_path(path), snap)


def check_cvae() -> bool:
    from engine import cli
    from engine.core import checkpoint

    ns = cli.build_parser().parse_args(["cvae", *CVAE_FLAGS])
    info = checkpoint.peek(OUT / CVAE_FILE)
    want = {k: getattr(ns, k) for k in ("task", "latent", "kl_warmup", "patience", "epochs")}
    ok = all(info.config.get(k) == v for k, v in want.items()) and \
        list(info.config.get("hidden", [])) == [256, 256]
    print(f"{CVAE_FILE}: step {info.step}, {'ok' if ok else 'DIFFERS from this script'}")
    return ok


BBB_FILE = "bbb-regression.pt"
BBB_STEPS = 1200  # what the stop used to train live: the bands have settled


def bbb_config():
    from engine.bbb import RegressionConfig

    return RegressionConfig(threads=1, device="cpu").validate()


def make_bbb(steps: int = BBB_STEPS) -> Path:
    """The regression page's default run, trained, and its frame (the fit, the data, the
    weights panel) beside it; the loss curves come from the checkpoint's metrics."""
    import torch

    from engine.bbb import RegressionExperiment

    torch.set_num_threads(1)
    exp = RegressionExperiment(bbb_config(), seed=SEED)
    while exp.steps < steps:
        exp.step()
    path = OUT / BBB_FILE
    exp.save(path)
    make_bbb_frame(path)
    return path


def make_bbb_frame(path: Path) -> Path:
    """The frame of the saved BBB model, as the page's loaded model draws it."""
    from engine.bbb import RegressionExperiment
    from vigui.pages.frames import frame_path, save_frame

    exp = RegressionExperiment.load(path)
    snap = {**exp.heavy_snapshot(), **exp.snapshot()}
    snap.pop("device", None)  # where it ran here, not where the page runs it
    return save_frame(frame_path(path), snap)


def check_bbb() -> bool:
    from engine.core import checkpoint

    info = checkpoint.peek(OUT / BBB_FILE, kind="bbb-regression")
    ok = info.config == bbb_config().to_dict() and info.step == BBB_STEPS
    print(f"{BBB_FILE}: step {info.step}, {'ok' if ok else 'DIFFERS from this script'}")
    return ok


def make_scene_frames() -> list[Path]:
    """The frame each fixed-length stop (black-box VI, the gradient estimators) ends on:
    its experiment, stepped as far as the stop plays it, as the page's runner delivers it
    (its views, the expensive ones too, and the metric history: there is no checkpoint)."""
    import json

    import numpy as np
    import torch

    from engine.vi.bbvi import BBVIConfig, BBVIExperiment
    from engine.vi.estimators import EstimatorConfig, EstimatorExperiment
    from vigui.pages.frames import save_frame, scene_frame_path
    from vigui.teaching.scenes import lecture_tour

    def bbvi(params):
        params = dict(params)
        seed = int(params.pop("seed"))
        return BBVIExperiment(BBVIConfig(**params).validate(), seed=seed)

    def estimators(params):
        return EstimatorExperiment(EstimatorConfig(**params))

    def estimator_map(params) -> dict:  # the page's ELBO map, drawn with the frame
        from vigui.pages.vi.estimators import elbo_map, map_key

        gap, bm, bl = elbo_map(*map_key(EstimatorConfig(**params)))
        return {"elbo_map": {"gap": gap, "best": np.array([bm, bl])}}

    builders = {"bbvi": bbvi, "estimators": estimators}
    extras = {"estimators": estimator_map}
    torch.set_num_threads(1)
    out = []
    for stop in lecture_tour().stops:
        path = scene_frame_path(stop)
        if stop.page != "vi" or stop.section not in builders or path is None:
            continue
        exp = builders[stop.section](stop.params[stop.section])
        while exp.steps < int(stop.run["steps"]) and not exp.done:
            exp.step()
        snap = {**(exp.heavy_snapshot() or {}), **exp.snapshot()}
        snap["metrics_state"] = json.dumps(exp.metrics.state())
        if stop.section in extras:
            snap.update(extras[stop.section](stop.params[stop.section]))
        out.append(save_frame(path, snap))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="check the shipped files, train nothing")
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--frames", action="store_true",
                    help="only write the frame files of the shipped VAE checkpoints")
    ap.add_argument("--bbb", action="store_true", help="only train the BBB regression stop's model")
    ap.add_argument("--cvae-frame", action="store_true",
                    help="only write the frames of the shipped CVAE and BBB checkpoints")
    ap.add_argument("--scene-frames", action="store_true",
                    help="only write the frames of the fixed-length vi stops (black-box VI, estimators)")
    args = ap.parse_args(argv)
    from engine.core import checkpoint

    if args.cvae_frame:
        path = make_cvae_frame()
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e3:.0f} kB")
        path = make_bbb_frame(OUT / BBB_FILE)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e3:.0f} kB")
        return 0
    if args.scene_frames:
        for path in make_scene_frames():
            print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e3:.0f} kB")
        return 0

    if args.bbb:
        path = make_bbb()
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e3:.0f} kB")
        return 0

    for mode, name in MODES.items():
        if args.frames:
            frame = make_frame(OUT / name)
            print(f"{frame.relative_to(ROOT)}: {frame.stat().st_size / 1e3:.0f} kB")
            continue
        if args.check:
            info = checkpoint.peek(OUT / name, kind="vae")
            ok = info.config == config(mode).to_dict() and info.step == STEPS
            print(f"{name}: step {info.step}, {'ok' if ok else 'DIFFERS from this script'}")
            if not ok:
                return 1
            continue
        path = make(mode, args.steps)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.2f} MB")
    if args.frames:
        return 0
    if args.check:
        return 0 if check_cvae() and check_bbb() else 1
    for path in (make_cvae(), make_cvae_frame(), make_bbb(), *make_scene_frames()):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
