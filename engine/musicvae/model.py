"""MusicVAE (Roberts et al., 2018) for two-bar melodies, on the shared trainer.

The lecture ends its VAE section with Google's MusicVAE: a VAE whose latent space holds
melodies, so that walking from one code to another morphs one tune into another. This
is its 2-bar melody model, small enough to train on a laptop CPU::

    tokens x_1..x_T  (T = 32 sixteenths, engine.musicvae.data: rest / hold / note-on)
    q(z|x)   = N(mu, diag sigma^2)   a bidirectional GRU reads the embedded tokens;
                                     its two final states -> mu and log sigma^2
    p(z)     = N(0, I)
    p(x|z)   = prod_t Cat(x_t | x_<t, z)   an autoregressive GRU: its first state is
                                     tanh(W z), each input is [embed(x_{t-1}), z]

    recon = -log p(x|z) = sum_t cross-entropy          (teacher forcing, one z)
    kl    = KL(q(z|x) || p(z))                         (analytic)
    loss  = recon + beta_t * max(kl - free_bits, 0)    per phrase, as MusicVAE

An autoregressive decoder can model a melody without looking at z, and then the KL
goes to zero ("posterior collapse"). Two remedies, both MusicVAE's: free bits (the
first ``free_bits`` nats of KL per phrase cost nothing) and KL annealing (``beta_t``
rises linearly from 0 to ``beta`` over ``kl_warmup`` steps). The reported
``neg_elbo`` is always the true bound, recon + kl, in nats per phrase.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.core.params import Param
from engine.core.stats import mean_se, means_with_se
from engine.core.trainer import TorchTrainer
from engine.musicvae import data as music
from engine.musicvae.config import MODELS, MusicVAEConfig

__all__ = ["MusicVAEConfig", "MelodyVAE", "RollVAE", "MusicVAEExperiment", "slerp", "MODELS"]

EMBED = 32        # token embedding size
N_STRIP = 6       # test phrases shown with their reconstructions
N_PRIOR = 6       # prior samples decoded for the samples view
SAMPLE_TEMPERATURE = 1.0  # the samples view's default: p(x|z) itself, as learned
MAX_TEMPERATURE = 5.0
SCATTER_ROWS = 4000  # test phrases in the latent scatter (heavy view)
LOG_2PI = math.log(2.0 * math.pi)
TEST_METRICS = ("test_neg_elbo", "test_recon", "test_kl", "test_acc")


def _int_in(name: str, value, lo: int, hi: int) -> int:
    return Param(name=name, kind="int", lo=lo, hi=hi).check(value)


# -- model ------------------------------------------------------------------------------
class MelodyVAE(nn.Module):
    """Bidirectional GRU encoder -> (mu, logvar); autoregressive GRU decoder -> logits."""

    def __init__(self, latent: int = 32, hidden: int = 128, n_tokens: int = music.N_TOKENS):
        super().__init__()
        self.latent, self.hidden, self.n_tokens = latent, hidden, n_tokens
        self.start = n_tokens  # the decoder's first input: a token no melody holds
        self.embed = nn.Embedding(n_tokens + 1, EMBED)
        self.encoder = nn.GRU(EMBED, hidden, batch_first=True, bidirectional=True)
        self.mu_head = nn.Linear(2 * hidden, latent)
        self.logvar_head = nn.Linear(2 * hidden, latent)
        self.init_state = nn.Linear(latent, hidden)
        self.decoder = nn.GRU(EMBED + latent, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_tokens)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (n, T) int64 -> mean and log-variance of q(z|x), each (n, latent)."""
        _, h = self.encoder(self.embed(x))          # h: (2, n, hidden), both directions
        h = torch.cat([h[0], h[1]], dim=-1)
        return self.mu_head(h), self.logvar_head(h)

    def logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (n, T, tokens) of x_t given x_<t and z."""
        prev = torch.cat([torch.full_like(x[:, :1], self.start), x[:, :-1]], dim=1)
        inp = torch.cat([self.embed(prev), z[:, None, :].expand(-1, x.shape[1], -1)], -1)
        h0 = torch.tanh(self.init_state(z))[None]
        out, _ = self.decoder(inp, h0)
        return self.out(out)

    def neg_log_lik(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) per phrase (n,), nats."""
        logits = self.logits(z, x)
        return F.cross_entropy(logits.transpose(1, 2), x, reduction="none").sum(1)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, steps: int = music.STEPS,
                 temperature: float = 0.0, generator: torch.Generator | None = None):
        """Decode codes (n, latent) step by step: argmax tokens (temperature 0) or samples
        from softmax(logits / temperature). Returns (n, steps) int64."""
        n = z.shape[0]
        h = torch.tanh(self.init_state(z))[None].contiguous()
        tok = torch.full((n, 1), self.start, dtype=torch.long, device=z.device)
        out = []
        for _ in range(steps):
            inp = torch.cat([self.embed(tok), z[:, None, :]], -1)
            o, h = self.decoder(inp, h)
            logits = self.out(o[:, 0])
            if temperature > 0:
                probs = torch.softmax(logits / temperature, -1)
                tok = torch.multinomial(probs, 1, generator=generator)
            else:
                tok = logits.argmax(-1, keepdim=True)
            out.append(tok)
        return torch.cat(out, 1)


class RollVAE(nn.Module):
    """The baseline: an MLP VAE over the flattened one-hot roll (STEPS x tokens), its
    decoder a softmax per step, independent given z (not autoregressive). Same methods
    as :class:`MelodyVAE`."""

    def __init__(self, latent: int = 32, hidden: int = 128, n_tokens: int = music.N_TOKENS,
                 steps: int = music.STEPS):
        super().__init__()
        self.latent, self.hidden, self.n_tokens, self.steps = latent, hidden, n_tokens, steps
        self.encoder = nn.Sequential(nn.Linear(steps * n_tokens, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU())
        self.mu_head = nn.Linear(hidden, latent)
        self.logvar_head = nn.Linear(hidden, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(),
                                     nn.Linear(hidden, steps * n_tokens))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(F.one_hot(x, self.n_tokens).float().flatten(1))
        return self.mu_head(h), self.logvar_head(h)

    def logits(self, z: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (n, STEPS, tokens); ``x`` is ignored (no teacher forcing)."""
        return self.decoder(z).reshape(-1, self.steps, self.n_tokens)

    def neg_log_lik(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(z).transpose(1, 2), x, reduction="none").sum(1)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, steps: int = music.STEPS,
                 temperature: float = 0.0, generator: torch.Generator | None = None):
        logits = self.logits(z)
        if temperature > 0:
            probs = torch.softmax(logits / temperature, -1).reshape(-1, self.n_tokens)
            return torch.multinomial(probs, 1, generator=generator).reshape(-1, self.steps)
        return logits.argmax(-1)


def kl_to_prior(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row (n,), nats."""
    return 0.5 * (logvar.exp() + mu.square() - 1.0 - logvar).sum(-1)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation between codes a and b at fractions t (MusicVAE's path:
    it keeps the norm typical of N(0, I) codes in high dimensions). (len(t), latent)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    t = np.asarray(t, np.float64)[:, None]
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(a @ b / max(float(na * nb), 1e-12), -1.0, 1.0)
    omega = math.acos(cos)
    if omega < 1e-6:  # (anti)parallel-free: the straight line is the same path
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega)


# -- trainer ------------------------------------------------------------------------------
class MusicVAEExperiment(TorchTrainer):
    """Trains a :class:`MelodyVAE` on melody phrases, one minibatch per step.

    Step metrics (nats per phrase): ``loss`` (the optimised objective), ``recon``,
    ``kl``, ``beta`` (annealed), ``epoch``; every ``eval_every`` steps and at epoch
    ends ``test_neg_elbo`` (recon + KL), ``test_recon``, ``test_kl`` and ``test_acc``
    (greedy decoding of the mean code: the fraction of steps equal to the input) on
    the first ``eval_size`` test phrases with fixed noise, each with its standard error
    (``test_neg_elbo_se``, ...) taking the piece as the unit (:func:`tune_mean_se`).
    """

    kind = "musicvae"
    config_class = MusicVAEConfig
    model: MelodyVAE | RollVAE
    architecture = ("latent", "hidden", "model")

    def __init__(self, config: MusicVAEConfig | None = None, seed: int | None = 0,
                 dataset=None, progress=None):
        if dataset is None:
            c = (config or MusicVAEConfig()).validate()
            dataset = music.load_melodies(c.dataset, transpose=c.transpose, progress=progress)
        super().__init__(config, seed, dataset)
        latent = self.config.latent
        self.test_tokens = self.test_x.long()
        self.eval_tokens = self.eval_x.long()
        self._eval_eps = self.fixed_noise(self.eval_x.shape[0], latent)
        self.eval_tunes = _tunes_of(self.dataset, self.eval_x.shape[0])
        self._prior_z = self.fixed_noise(N_PRIOR, latent)
        self.sample_temperature = SAMPLE_TEMPERATURE
        self.strip_index = _spread(getattr(self.dataset, "test_tune", None),
                                   self.test_x.shape[0], N_STRIP)
        self._pca: tuple[np.ndarray, np.ndarray] | None = None

    def build_model(self) -> nn.Module:
        cls = RollVAE if self.config.model == "mlp" else MelodyVAE
        return cls(self.config.latent, self.config.hidden)

    def beta_now(self, step: int | None = None) -> float:
        """β at a step: linear warm-up from 0 to config.beta over kl_warmup steps."""
        step = self.steps if step is None else step
        warm = self.config.kl_warmup
        return self.config.beta * (1.0 if warm == 0 else min(1.0, (step + 1) / warm))

    def objective(self, recon: torch.Tensor, kl: torch.Tensor, beta: float) -> torch.Tensor:
        """Per-phrase recon and KL (n,) -> the batch's loss: mean of
        recon + beta * max(kl - free_bits, 0)."""
        return (recon + beta * torch.clamp(kl - self.config.free_bits, min=0.0)).mean()

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor):
        tokens = x.long()
        mu, logvar = self.model.encode(tokens)
        eps = torch.randn(mu.shape, generator=self.noise, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps
        recon = self.model.neg_log_lik(z, tokens)
        kl = kl_to_prior(mu, logvar)
        beta = self.beta_now()
        loss = self.objective(recon, kl, beta)
        return loss, {"recon": recon.mean(), "kl": kl.mean(),
                      "beta": torch.tensor(beta, device=loss.device)}

    def test_values(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Per phrase (4, n): -ELBO, recon, KL (nats, one draw z = mu + sigma * eps) and
        the greedy reconstruction's accuracy (the share of its steps equal to x)."""
        mu, logvar = self.model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        recon = self.model.neg_log_lik(z, x)
        kl = kl_to_prior(mu, logvar)
        acc = (self.model.generate(mu) == x).float().mean(1)
        return torch.stack([recon + kl, recon, kl, acc])

    def test_metrics(self) -> dict[str, float]:
        per_phrase = self.test_values(self.eval_tokens, self._eval_eps).cpu()  # one host sync
        return means_with_se(TEST_METRICS, per_phrase, lambda row: tune_mean_se(row, self.eval_tunes))

    def weights_changed(self) -> None:
        self._pca = None

    def set_sample_temperature(self, temperature: float) -> float:
        """The temperature the samples view decodes the prior draws at: 0 is greedy
        (argmax at every step: the likeliest token, mostly "hold", so long flat notes);
        1 samples p(x_t | x_<t, z) as learned; above 1 flattens it. Returns it."""
        t = float(temperature)
        if not 0.0 <= t <= MAX_TEMPERATURE:  # also refuses NaN
            raise ValueError(f"temperature must be in 0..{MAX_TEMPERATURE:g}, got {temperature!r}")
        self.sample_temperature = t
        return t

    # -- latent-space tools -------------------------------------------------------------
    def _tokens(self, tokens) -> torch.Tensor:
        t = torch.as_tensor(np.atleast_2d(np.asarray(tokens)), dtype=torch.long)
        if t.shape[1] != music.STEPS:
            raise ValueError(f"tokens must have {music.STEPS} steps per phrase, got shape "
                             f"{tuple(t.shape)}")
        if t.numel() and (t.min() < 0 or t.max() >= music.N_TOKENS):
            raise ValueError(f"tokens must lie in 0..{music.N_TOKENS - 1}")
        return t.to(self.train_x.device)

    @torch.no_grad()
    def encode(self, tokens) -> np.ndarray:
        """Phrases (n, STEPS) tokens -> latent means (n, latent) float64."""
        t = self._tokens(tokens)
        mus = [self.model.encode(chunk)[0] for chunk in t.split(4096)]
        return torch.cat(mus).double().cpu().numpy()

    @torch.no_grad()
    def decode(self, z, temperature: float = 0.0, seed: int = 0) -> np.ndarray:
        """Codes (n, latent) -> phrases (n, STEPS) int64: greedy (temperature 0) or
        sampled with a seeded generator."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        if z.shape[1] != self.config.latent:
            raise ValueError(f"codes must have {self.config.latent} columns, got {z.shape}")
        if not math.isfinite(temperature) or temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature!r}")
        zt = torch.as_tensor(z, dtype=torch.float32, device=self.train_x.device)
        gen = torch.Generator(device=zt.device).manual_seed(int(seed))
        return self.model.generate(zt, temperature=temperature, generator=gen).cpu().numpy()

    def reconstruct(self, tokens) -> np.ndarray:
        """Greedy decoding of each phrase's mean code (n, STEPS)."""
        return self.decode(self.encode(tokens))

    def interpolate(self, a, b, steps: int = 7, path: str = "slerp") -> dict[str, np.ndarray]:
        """Morph phrase ``a`` into phrase ``b``: their mean codes, ``steps`` codes along
        the path (both ends included; "slerp" as MusicVAE, or "line") and each decoded
        greedily. Returns {"t", "codes", "tokens" (steps, STEPS)}."""
        _int_in("steps", steps, 2, 64)
        if path not in ("slerp", "line"):
            raise ValueError(f"path must be 'slerp' or 'line', not {path!r}")
        za, zb = self.encode(np.stack([np.asarray(a).ravel(), np.asarray(b).ravel()]))
        t = np.linspace(0.0, 1.0, steps)
        codes = slerp(za, zb, t) if path == "slerp" else (1 - t[:, None]) * za + t[:, None] * zb
        return {"t": t, "codes": codes, "tokens": self.decode(codes)}

    def test_phrase(self, index: int) -> tuple[np.ndarray, str]:
        """Test phrase ``index``: its tokens (STEPS,) and a name (file of its piece)."""
        index = _int_in("index", index, 0, self.test_x.shape[0] - 1)
        return self.test_tokens[index].cpu().numpy(), self._tune_name(index)

    def _tune_name(self, index: int) -> str:
        ds = self.dataset
        tunes, names = getattr(ds, "test_tune", None), getattr(ds, "tunes", ())
        if tunes is None or not 0 <= int(tunes[index]) < len(names):
            return f"test phrase {index}"
        return f"{Path(names[int(tunes[index])]).stem} #{index}"

    def latent_plane(self, tokens) -> np.ndarray:
        """Phrases -> their mean codes in the PCA plane of :meth:`heavy_snapshot` (n, 2)."""
        if self._pca is None:
            self.heavy_snapshot()
        assert self._pca is not None  # heavy_snapshot fits the plane
        center, components = self._pca
        return (self.encode(tokens) - center) @ components.T

    def prior_samples(self, n: int = N_PRIOR, temperature: float = 0.0,
                      seed: int = 0) -> np.ndarray:
        """n phrases decoded from z ~ N(0, I) (seeded)."""
        _int_in("n", n, 1, 1000)
        z = np.random.default_rng(seed).standard_normal((n, self.config.latent))
        return self.decode(z, temperature=temperature, seed=seed)

    # -- views -------------------------------------------------------------------------
    @torch.no_grad()
    def snapshot(self) -> dict[str, Any]:
        """Cheap views: originals and reconstructions (greedy, from the mean code) of
        N_STRIP fixed test phrases, and N_PRIOR fixed prior draws decoded at
        ``sample_temperature`` (seeded); all (n, STEPS) int64 tokens. Plus step, epoch,
        samples_seen, samples_per_s, device."""
        snap = super().snapshot()
        x = self.test_tokens[self.strip_index]
        mu, _ = self.model.encode(x)
        # The same draws every frame (fixed z and a fixed sampling seed): the strip
        # changes when the model or the temperature does, not from frame to frame.
        gen = torch.Generator(device=self._prior_z.device).manual_seed(self.seed + 5)
        samples = self.model.generate(self._prior_z, temperature=self.sample_temperature,
                                      generator=gen)
        snap.update({"originals": x.cpu().numpy(),
                     "reconstructions": self.model.generate(mu).cpu().numpy(),
                     "samples": samples.cpu().numpy(),
                     "sample_temperature": self.sample_temperature,
                     "strip_index": self.strip_index.copy(),
                     "strip_names": [self._tune_name(int(i)) for i in self.strip_index],
                     "n_test": int(self.test_x.shape[0]),
                     "beta": self.beta_now()})
        return snap

    @torch.no_grad()
    def heavy_snapshot(self) -> dict[str, Any]:
        """The latent means of (up to SCATTER_ROWS) test phrases in their PCA plane.

        Keys: latent (n, 2) float32, labels (n,) key index, classes (key names),
        tunes (n,) piece index, tune_names, explained_variance (2,)."""
        n = min(SCATTER_ROWS, self.test_x.shape[0])
        means = self.encode(self.test_tokens[:n].cpu().numpy())
        center = means.mean(0)
        _, s, vt = np.linalg.svd(means - center, full_matrices=False)
        self._pca = (center, vt[:2].copy())
        ds = self.dataset
        return {"latent": ((means - center) @ vt[:2].T).astype(np.float32),
                "labels": np.asarray(ds.test_y[:n]).copy(),
                "classes": tuple(ds.classes),
                "tunes": np.asarray(getattr(ds, "test_tune", np.zeros(n, int))[:n]).copy(),
                "tune_names": tuple(getattr(ds, "tunes", ())),
                "explained_variance": (s[:2] ** 2 / max((s ** 2).sum(), 1e-30)).astype(np.float32)}

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, k: int = 20, n: int | None = None) -> dict[str, float]:
        """The whole test set (or its first n phrases), nats per phrase, seeded:
        neg_elbo = recon + kl (beta 1, no free bits; recon averaged over k draws of z),
        nll_iw (the importance-weighted bound with k draws, Burda et al. 2016:
        <= neg_elbo), acc (greedy decoding of the mean code vs the input, per step),
        acc_forced (argmax with the true previous tokens), and n; each figure with its
        standard error (``neg_elbo_se``, ...), the piece as the unit (:func:`tune_mean_se`;
        left out with a single test piece)."""
        _int_in("k", k, 1, 10_000)
        x_all = self.test_tokens[:n] if n is not None else self.test_tokens
        gen = torch.Generator(device=x_all.device).manual_seed(self.seed + 3)
        chunks = []
        for x in x_all.split(max(1, 8192 // k)):
            mu, logvar = self.model.encode(x)
            b, L = mu.shape
            eps = torch.randn(k, b, L, generator=gen, device=x.device)
            z = mu + torch.exp(0.5 * logvar) * eps
            log_px = -self.model.neg_log_lik(z.reshape(k * b, L), x.repeat(k, 1)).reshape(k, b)
            log_pz = -0.5 * (z.square() + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.square() + LOG_2PI + logvar).sum(-1)
            nll_iw = math.log(k) - torch.logsumexp(log_px + log_pz - log_qz, 0)
            acc = (self.model.generate(mu) == x).double().mean(1)
            forced = (self.model.logits(mu, x).argmax(-1) == x).double().mean(1)
            parts = [-log_px.mean(0), kl_to_prior(mu, logvar), nll_iw, acc, forced]
            chunks.append(torch.stack([p.double().cpu() for p in parts]).numpy())
        per = np.concatenate(chunks, axis=1) if chunks else np.zeros((5, 0))  # per phrase
        tunes = _tunes_of(self.dataset, x_all.shape[0])
        out = means_with_se(("neg_elbo", "recon", "kl", "nll_iw", "acc", "acc_forced"),
                            (per[0] + per[1], *per), lambda v: tune_mean_se(v, tunes))
        return {**out, "k": float(k), "n": float(x_all.shape[0])}


def tune_mean_se(values, tunes: np.ndarray | None) -> tuple[float, float]:
    """Mean over phrases and its standard error with the piece as the unit.

    Phrases are 2-bar windows starting at every bar line, so neighbours share a bar and
    a piece's phrases move together: their scatter as if independent understates the
    error. Over G pieces with totals S_g of n_g phrases (N in all), mean m = sum S_g / N
    and se^2 = G / (G - 1) * sum_g (S_g - m n_g)^2 / N^2, the clustered (ratio-estimator)
    standard error; with one phrase per piece it is mean_se's sd / sqrt(N). Without
    piece labels (None) every phrase is its own unit. inf below two pieces."""
    v = np.asarray(values.detach().cpu().double() if hasattr(values, "detach") else values,
                   dtype=np.float64).ravel()
    if tunes is None:
        return mean_se(v)
    if v.size == 0:
        return math.nan, math.inf
    _, group = np.unique(np.asarray(tunes)[:v.size], return_inverse=True)
    totals, sizes = np.bincount(group, weights=v), np.bincount(group).astype(np.float64)
    m, g = float(v.mean()), totals.size
    if g < 2:
        return m, math.inf
    resid = totals - m * sizes
    return m, math.sqrt(g / (g - 1) * float(resid @ resid)) / v.size


def _tunes_of(dataset, n: int) -> np.ndarray | None:
    """The piece of each of the first n test phrases (None if the data has no pieces)."""
    tunes = getattr(dataset, "test_tune", None)
    return None if tunes is None or len(tunes) < n else np.asarray(tunes[:n]).copy()


def _spread(tunes, n: int, k: int) -> np.ndarray:
    """k test phrase indices for the strip: the first phrase of k pieces spread over
    the test set (one piece's phrases alone would show one tune), else the first k."""
    if tunes is None or n == 0:
        return np.arange(min(k, n))
    firsts = np.unique(np.asarray(tunes[:n]), return_index=True)[1]
    firsts = np.sort(firsts)
    if len(firsts) < k:
        return np.unique(np.concatenate([firsts, np.arange(min(k, n))]))[:k]
    return firsts[np.linspace(0, len(firsts) - 1, k).round().astype(int)]
