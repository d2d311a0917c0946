"""What each page (or section) runs, as notebook code using the engine's public API.

A :class:`Recipe` knows, for one page or section: the imports, how the page turns its
parameters (``PARAMS``, what the parameter column shows, seeds included) into an engine
object (``exp`` for an iterative page, plain numbers for an instant one), and the
matplotlib code that draws what the page draws. The code only uses what the README
documents: a config dataclass built from plain values, the Experiment protocol
(``step``, ``done``, ``steps``, ``metrics.get/latest/names``, ``snapshot``,
``heavy_snapshot``) and a chapter's public functions.

Every notebook ends its run with a cell printing ``FINAL`` numbers as ``name = repr``:
floats printed with ``repr`` round-trip exactly, so a test compares them with the
page's numbers digit for digit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Recipe", "RECIPES", "recipe_for"]


@dataclass(frozen=True)
class Recipe:
    imports: str
    build: str  # code: PARAMS (and SEED) -> exp, or the instant numbers into FINAL
    views: str  # matplotlib code drawing what the page shows
    iterative: bool = True
    seed: bool = False  # the page passes PARAMS["seed"] as Experiment(seed=...)
    curves: tuple[tuple[str, tuple[str, ...], str], ...] = ()  # (title, metrics, y label)
    #: parameters the page adds to the config itself (one thread, the CPU)
    fixed: dict = field(default_factory=dict)


TORCH_THREADS = "torch.set_num_threads(1)  # one thread: the page's numbers on a 2-core machine\n"

# -- chapter 1: information theory -------------------------------------------------------
INFO_IMPORTS = ("import numpy as np\nimport matplotlib.pyplot as plt\n"
                "from engine.info import measures\n")

SURPRISE = Recipe(
    iterative=False, imports=INFO_IMPORTS,
    build="""\
p = PARAMS["p_heads"]
forks = PARAMS["forks"]
FINAL = {
    "surprise_heads": float(measures.surprise([p, 1 - p])[0]),   # -log2 p, bits
    "surprise_tails": float(measures.surprise([p, 1 - p])[1]),
    "entropy_coin": float(measures.entropy([p, 1 - p])),         # expected surprise
    "destinations": float(2 ** forks),
    "questions": float(measures.entropy(np.full(2 ** forks, 2.0 ** -forks))),  # log2 of the ends
}
""",
    views="""\
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(["heads", "tails"], [FINAL["surprise_heads"], FINAL["surprise_tails"]], color=["#0072b2", "#e69f00"])
ax.axhline(FINAL["entropy_coin"], color="k", ls="--", label=f"H = {FINAL['entropy_coin']:.3f} bits")
ax.set_ylabel("surprise −log₂ p (bits)"); ax.set_title(f"A coin with p(heads) = {p}"); ax.legend()
plt.show()
""")

ENTROPY = Recipe(
    iterative=False, imports=INFO_IMPORTS,
    build="""\
p = np.asarray(PARAMS["p"], dtype=float)
labels = PARAMS.get("labels") or [str(i + 1) for i in range(len(p))]
FINAL = {"entropy": float(measures.entropy(p)), "max_entropy": float(np.log2(len(p)))}
""",
    views="""\
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(labels, p, color="#0072b2")
ax.set_ylabel("p")
ax.set_title(f"H(p) = {FINAL['entropy']:.3f} bits (at most log₂ {len(p)} = {FINAL['max_entropy']:.3f})")
plt.show()
""")

KL = Recipe(
    iterative=False, imports=INFO_IMPORTS,
    build="""\
p = np.asarray(PARAMS["p"], dtype=float)
q = np.asarray(PARAMS["q"], dtype=float)
labels = PARAMS.get("labels") or [str(i + 1) for i in range(len(p))]
lengths = measures.huffman_lengths(q)   # the question tree built for q
FINAL = {
    "H_p": float(measures.entropy(p)),
    "H_p_q": float(measures.cross_entropy(p, q)),
    "KL_p_q": float(measures.kl_divergence(p, q)),
    "KL_q_p": float(measures.kl_divergence(q, p)),
    "questions": float(measures.expected_questions(p, lengths)),  # playing q's tree on p
}
""",
    views="""\
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3))
x = np.arange(len(p))
a.bar(x - 0.2, p, 0.4, label="p"); a.bar(x + 0.2, q, 0.4, label="q")
a.set_xticks(x, labels); a.legend(); a.set_title("The bag p and the tree's q")
b.barh(["H(p)", "H(p, q)"], [FINAL["H_p"], FINAL["H_p_q"]], color=["#0072b2", "#e69f00"])
b.set_xlabel("bits"); b.set_title(f"H(p, q) = H(p) + KL(p‖q) = {FINAL['H_p']:.3f} + {FINAL['KL_p_q']:.3f}")
plt.show()
""")

JOINT = Recipe(
    iterative=False, imports=INFO_IMPORTS,
    build="""\
pxy = np.asarray(PARAMS["weights"], dtype=float)
pxy = pxy / pxy.sum()   # the table's weights, normalised
px, py = measures.marginals(pxy)
FINAL = {
    "H_X": float(measures.entropy(px)), "H_Y": float(measures.entropy(py)),
    "H_XY": float(measures.joint_entropy(pxy)),
    "H_Y_given_X": float(measures.conditional_entropy(pxy)),
    "I_XY": float(measures.mutual_information(pxy)),
}
""",
    views="""\
fig, ax = plt.subplots(figsize=(4, 3.5))
im = ax.imshow(pxy, cmap="Blues"); fig.colorbar(im, ax=ax)
ax.set_xlabel("y"); ax.set_ylabel("x"); ax.set_title(f"p(x, y): I(X; Y) = {FINAL['I_XY']:.3f} bits")
plt.show()
""")


GAUSS = Recipe(
    seed=True,
    imports=INFO_IMPORTS + "from engine.info.measures import GaussianKLConfig, GaussianKLMonteCarlo\n",
    build="""\
# samples from q estimate KL(q‖p); "pq" samples from p for KL(p‖q)
if PARAMS["direction"] == "pq":
    src, tgt = (PARAMS["mu_p"], PARAMS["sigma_p"]), (PARAMS["mu_q"], PARAMS["sigma_q"])
else:
    src, tgt = (PARAMS["mu_q"], PARAMS["sigma_q"]), (PARAMS["mu_p"], PARAMS["sigma_p"])
config = GaussianKLConfig(mu_q=src[0], sigma_q=src[1], mu_p=tgt[0], sigma_p=tgt[1],
                          max_samples=int(PARAMS["max_samples"])).validate()
exp = GaussianKLMonteCarlo(config, seed=SEED)
""",
    curves=(("Monte Carlo estimate of KL (nats)", ("estimate",), "nats"),
            ("Its standard error", ("stderr",), "nats")),
    views="""\
steps, est = exp.metrics.get("estimate")
_, n = exp.metrics.get("samples")
_, se = exp.metrics.get("stderr")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogx(n, est, label="estimate"); ax.fill_between(n, est - 2 * se, est + 2 * se, alpha=0.3)
ax.axhline(exp.closed_form, color="k", ls="--", label=f"closed form {exp.closed_form:.4f}")
ax.set_xlabel("samples"); ax.set_ylabel("nats"); ax.legend(); plt.show()
""")

# -- chapter 2: variational inference ------------------------------------------------------
GAP = Recipe(
    imports=("import math\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
             "from engine.vi.gap import GapAscent, GapConfig\n"
             "from engine.vi.models import ConjugateGaussian, gaussian_data\n"),
    build="""\
x = gaussian_data(PARAMS["n"], PARAMS["true_z"], PARAMS["sigma_x"], PARAMS["seed"])
model = ConjugateGaussian(x, PARAMS["sigma_x"])
exp = GapAscent(model, GapConfig(m=PARAMS["m"], log_s=PARAMS["log_s"]).validate())
""",
    curves=(("ELBO rises to log p(x)", ("elbo",), "nats"), ("The gap KL(q‖p(z|x))", ("kl",), "nats")),
    views="""\
fig, ax = plt.subplots(figsize=(5, 3))
elbo = exp.metrics.latest("elbo") if exp.steps else float(model.elbo(exp.m, exp.s))
ax.bar(["ELBO", "KL(q‖p(z|x))"], [elbo, exp.gap()], color=["#0072b2", "#e69f00"])
ax.axhline(exp.log_evidence, color="k", ls="--", label=f"log p(x) = {exp.log_evidence:.4f}")
ax.set_ylabel("nats"); ax.legend(); plt.show()
""")

LATENT = Recipe(
    iterative=False,
    imports="import numpy as np\nimport matplotlib.pyplot as plt\nfrom engine.vi import latent\n",
    build="""\
z = latent.sample_z(PARAMS["n"], PARAMS["seed"])
x = latent.push(z, PARAMS["kind"], seed=PARAMS["seed"])
r = latent.ring_radius(x) if PARAMS["kind"] == "ring" else None
FINAL = {"mean_x0": float(x[:, 0].mean()), "mean_x1": float(x[:, 1].mean()),
         "sd_x0": float(x[:, 0].std()), "sd_x1": float(x[:, 1].std())}
""",
    views="""\
fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
a.scatter(z[:, 0], z[:, 1], s=1, alpha=0.3); a.set_title("z ~ N(0, I)"); a.set_aspect("equal")
b.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, color="#e69f00"); b.set_title(f"x = g(z): {PARAMS['kind']}")
b.set_aspect("equal"); plt.show()
""")

ESTIMATORS = Recipe(
    imports=("import numpy as np\nimport matplotlib.pyplot as plt\n"
             "from engine.vi.estimators import (ESTIMATORS, ESTIMATOR_LABELS, EstimatorConfig,\n"
             "                                  EstimatorExperiment)\n"),
    build="""\
exp = EstimatorExperiment(EstimatorConfig(**PARAMS).validate())
""",
    views="""\
snap = exp.snapshot()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for j, ax in enumerate(axes):
    h = snap["histograms"][j]
    centres = (h["edges"][1:] + h["edges"][:-1]) / 2
    for k in ESTIMATORS:
        ax.step(centres, h[k], where="mid", label=ESTIMATOR_LABELS[k])
    ax.axvline(snap["true_grad"][j], color="k", ls="--", label="true gradient")
    ax.set_title(["∂ELBO/∂m", "∂ELBO/∂log s"][j]); ax.legend(fontsize=7)
plt.show()
for k in ESTIMATORS:  # per component; the total's standard error beside it
    total, se = float(snap["variance"][k].sum()), snap["variance_se"][k]
    print(f"{ESTIMATOR_LABELS[k]:>28}: variance {snap['variance'][k]} (total {total:.4g} ± {se:.2g})")
""")

BBVI = Recipe(
    seed=True,
    imports=("import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"
             "from engine.vi.bbvi import BBVIConfig, BBVIExperiment\n"),
    build=TORCH_THREADS + "exp = BBVIExperiment(BBVIConfig(**PARAMS).validate(), seed=SEED)\n",
    curves=(("ELBO (and log Z)", ("elbo",), "nats"),),
    views="""\
snap = exp.snapshot()
x0, x1, y0, y1 = snap["extent"]
fig, ax = plt.subplots(figsize=(5, 5))
ax.imshow(snap["density"], extent=(x0, x1, y0, y1), origin="lower", cmap="Greys", aspect="auto")
ax.scatter(snap["samples"][:, 0], snap["samples"][:, 1], s=2, color="#0072b2", alpha=0.5)
ax.set_title(f"{snap['family']} q ({snap['divergence']} KL) on the target"); plt.show()
""")

# -- chapter 3: CAVI -----------------------------------------------------------------------------
CAVI = Recipe(
    imports=("import numpy as np\nimport matplotlib.pyplot as plt\n"
             "from engine.cavi.model import CaviConfig, CaviExperiment\n"),
    build="exp = CaviExperiment(CaviConfig(**PARAMS).validate())\n",
    curves=(("ELBO per sweep", ("elbo", "elbo_gradient"), "ELBO"),),
    views="""\
snap = exp.snapshot()
x, m = snap["x"], snap["m"]
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.5))
if x.shape[1] == 1:
    a.hist(x[:, 0], bins=60, color="#bbbbbb")
    for j, mj in enumerate(m[:, 0]):
        a.axvline(mj, color=f"C{j}", label=f"m{j}")
    for mu in snap["true_mu"][:, 0]:
        a.axvline(mu, color="k", ls=":")
else:
    a.scatter(x[:, 0], x[:, 1], s=3, c=np.argmax(snap["phi"], 1), cmap="tab10")
    a.scatter(m[:, 0], m[:, 1], marker="x", s=80, color="k")
a.set_title("The data and the fitted means (true means dotted)")
for j in range(len(m)):
    b.plot(*exp.metrics.get(f"m{j}"), label=f"m{j}")
b.set_xlabel("sweep"); b.set_title("The means, sweep by sweep"); b.legend(fontsize=7)
plt.show()
""")

# -- chapter 4: VAE and Music VAE -----------------------------------------------------------
VAE = Recipe(
    seed=True, fixed={"device": "cpu", "threads": 1},
    imports=("import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"
             "from engine.vae.model import VAEConfig, VAEExperiment\n"),
    build=TORCH_THREADS + "exp = VAEExperiment(VAEConfig(**PARAMS).validate(), seed=SEED)\n",
    curves=(("Loss (nats per image)", ("loss", "test_loss"), "nats"),
            ("Its parts", ("recon", "kl", "test_recon", "test_kl"), "nats")),
    views="""\
snap, heavy = exp.snapshot(), exp.heavy_snapshot()
fig, axes = plt.subplots(3, 8, figsize=(10, 4))
for i in range(8):
    for row, key in enumerate(("originals", "reconstructions", "samples")):
        axes[row, i].imshow(snap[key][i], cmap="gray", vmin=0, vmax=1); axes[row, i].axis("off")
axes[0, 0].set_title("test images, reconstructions, prior samples", loc="left", fontsize=9)
plt.show()
fig, axes = plt.subplots(1, 2 if "manifold" in heavy else 1, figsize=(11, 5), squeeze=False)
z, y = heavy["latent"], heavy["labels"]
sc = axes[0, 0].scatter(z[:, 0], z[:, 1], c=y, s=3, cmap="tab10")
axes[0, 0].legend(*sc.legend_elements(), fontsize=7, title="label")
axes[0, 0].set_title("Latent means of the test set" + (" (PCA)" if heavy["projection"] == "pca" else ""))
if "manifold" in heavy:
    x0, x1, y0, y1 = heavy["manifold_extent"]
    axes[0, 1].imshow(heavy["manifold"], cmap="gray", extent=(x0, x1, y0, y1))
    axes[0, 1].set_title("Decoded manifold")
plt.show()
""")

MUSICVAE = Recipe(
    seed=True, fixed={"device": "cpu", "threads": 1},
    imports=("import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"
             "from engine.musicvae.model import MusicVAEConfig, MusicVAEExperiment\n"),
    build=TORCH_THREADS + "exp = MusicVAEExperiment(MusicVAEConfig(**PARAMS).validate(), seed=SEED)\n",
    curves=(("Loss (nats per phrase)", ("neg_elbo", "test_neg_elbo"), "nats"),
            ("Its parts", ("recon", "kl", "test_recon", "test_kl"), "nats")),
    views="""\
snap, heavy = exp.snapshot(), exp.heavy_snapshot()
fig, axes = plt.subplots(2, 4, figsize=(12, 4), sharey=True)
for i in range(4):
    for row, key in enumerate(("originals", "reconstructions")):
        axes[row, i].imshow(snap[key][i][None, :], aspect="auto", cmap="viridis")
        axes[row, i].set_yticks([])
axes[0, 0].set_title("test phrases (tokens) and reconstructions", loc="left", fontsize=9)
plt.show()
fig, ax = plt.subplots(figsize=(6, 5))
z = heavy["latent"]
ax.scatter(z[:, 0], z[:, 1], c=heavy["labels"], s=4, cmap="tab20")
ax.set_title("Latent means of the test phrases (PCA), by key"); plt.show()
""")

# -- chapter 5: conditional VAE -----------------------------------------------------------------
CVAE = Recipe(
    seed=True, fixed={"device": "cpu", "threads": 1},
    imports=("import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"
             "from engine.cvae import CVAEConfig, CVAEExperiment\n"),
    build=TORCH_THREADS + "exp = CVAEExperiment(CVAEConfig(**PARAMS).validate(), seed=SEED)\n",
    curves=(("Baseline NCLL", ("baseline_loss", "baseline_val"), "nats"),
            ("CVAE −ELBO", ("cvae_loss", "cvae_val"), "nats")),
    views="""\
snap = exp.snapshot()
n, s = snap["samples"].shape[:2]
fig, axes = plt.subplots(n, s + 3, figsize=(1.2 * (s + 3), 1.2 * n), squeeze=False)
for i in range(n):
    row = [snap["inputs"][i], snap["baseline"][i], *snap["samples"][i], snap["truth"][i]]
    for ax, image in zip(axes[i], row):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1); ax.axis("off")
axes[0, 0].set_title("input, baseline, CVAE samples, truth", loc="left", fontsize=9)
plt.show()
""")

# -- chapter 6: Bayes by Backprop -----------------------------------------------------------
BBB_REGRESSION = Recipe(
    seed=True, fixed={"threads": 1},
    imports=("import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"
             "from engine.bbb.regression import RegressionConfig, RegressionExperiment\n"),
    build=TORCH_THREADS + "exp = RegressionExperiment(RegressionConfig(**PARAMS).validate(), seed=SEED)\n",
    curves=(("BBB loss and its parts", ("loss", "kl", "nll"), "nats"),
            ("Plain net", ("plain_mse",), "squared error")),
    views="""\
snap = exp.snapshot()
g, q = snap["grid"], snap["quantiles"]
fig, ax = plt.subplots(figsize=(8, 4))
ax.fill_between(g, q[0], q[4], color="#0072b2", alpha=0.15, label="BBB 5–95 %")
ax.fill_between(g, q[1], q[3], color="#0072b2", alpha=0.3, label="BBB 25–75 %")
ax.plot(g, q[2], color="#0072b2", label="BBB median")
ax.plot(g, snap["plain"], color="#d55e00", label="plain net")
ax.plot(g, snap["truth"], "k:", label="true curve")
ax.scatter(snap["x"], snap["y"], s=4, color="k")
ax.set_ylim(q[2].min() - 1, q[2].max() + 1); ax.legend(fontsize=8)
ax.set_title("Figure 15: Bayes by Backprop bands vs a plain network"); plt.show()
""")

BBB_CLASSIFY = Recipe(
    seed=True, fixed={"threads": 1, "eval_size": 1000, "device": "cpu"},
    imports=("import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"
             "from engine.bbb.classify import ClassifyConfig, ClassificationExperiment\n"),
    build=TORCH_THREADS + "exp = ClassificationExperiment(ClassifyConfig(**PARAMS).validate(), seed=SEED)\n",
    curves=(("Test error", ("test_error", "plain_test_error"), "error"),),
    views="""\
heavy = exp.heavy_snapshot()
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(heavy["prune_fractions"], heavy["prune_error"], "o-")
ax.set_xlabel("fraction of weights pruned (lowest |μ|/σ)"); ax.set_ylabel("test error")
ax.set_title("Pruning the BBB network"); plt.show()
""")

RECIPES: dict[tuple[str, str | None], Recipe] = {
    ("info", "surprise"): SURPRISE,
    ("info", "entropy"): ENTROPY,
    ("info", "joint"): JOINT,
    ("info", "kl"): KL,
    ("info", "gauss"): GAUSS,
    ("vi", "gap"): GAP,
    ("vi", "latent"): LATENT,
    ("vi", "estimators"): ESTIMATORS,
    ("vi", "bbvi"): BBVI,
    ("cavi", None): CAVI,
    ("vae", None): VAE,
    ("musicvae", None): MUSICVAE,
    ("cvae", None): CVAE,
    ("bbb", "regression"): BBB_REGRESSION,
    ("bbb", "classify"): BBB_CLASSIFY,
}


def recipe_for(page: str, section: str | None) -> Recipe:
    try:
        return RECIPES[(page, section)]
    except KeyError:
        what = f"{page!r}" + (f", section {section!r}" if section else "")
        raise LookupError(f"no notebook recipe for page {what}") from None
