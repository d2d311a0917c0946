"""Information measures for discrete distributions, Huffman question trees, Gaussian KL.

Conventions used by every function here:

* A distribution is a numpy array (or anything ``np.asarray`` accepts, such as a list)
  of nonnegative, finite numbers summing to 1 within ``1e-6``. With ``normalize=True``
  any nonnegative, finite, not-all-zero weights are accepted and rescaled to sum to 1.
  Inputs are never modified.
* ``base`` picks the unit: ``base=2`` (the default) gives bits (shannons),
  ``base=math.e`` nats, ``base=10`` hartleys. Any finite ``base > 0`` other than 1 works.
* ``0 log 0 = 0``: outcomes of probability zero contribute nothing to sums.
* A joint table ``pxy`` is 2-D with rows indexing x and columns indexing y.
* Scalar results are Python floats; per-outcome results are float arrays.
* Invalid input raises ``ValueError`` with a message naming the argument and the problem.

Quantities that are nonnegative in exact arithmetic (entropies, KL, mutual information)
are clipped at 0 so that round-off never shows as ``-1e-17`` (or ``-0.0``) in the GUI.
"""
from __future__ import annotations

import heapq
import math
import numbers
from dataclasses import dataclass

import numpy as np

from engine.core.params import Config, param
from engine.core.runtime import Experiment

__all__ = [
    "GAME1", "GAME2", "GAME_COLOURS", "QuestionNode",
    "entropy", "cross_entropy", "kl_divergence", "surprise", "binary_entropy",
    "marginals", "joint_entropy", "conditional_entropy", "mutual_information", "pmi",
    "huffman_lengths", "huffman_tree", "tree_lengths", "expected_questions",
    "gaussian_kl", "gaussian_kl_mc", "GaussianKLConfig", "GaussianKLMonteCarlo",
]

SUM_TOLERANCE = 1e-6

# The lecture's guessing games: four coloured coins (blue, red, green, yellow) in a bag.
GAME_COLOURS = ("blue", "red", "green", "yellow")
GAME1 = (0.25, 0.25, 0.25, 0.25)
GAME2 = (0.5, 0.125, 0.125, 0.25)

# Dedicated logs for the common bases: log2(2**-29) is exactly -29, and log10(1000) is
# exactly 3, where ln(x) / ln(base) gives -29.000000000000004 and 2.9999999999999996.
_EXACT_LOGS = {2.0: np.log2, math.e: np.log, 10.0: np.log10}


# -- validation ------------------------------------------------------------------------
def _where(flat_index: int, shape: tuple) -> int | tuple:
    idx = np.unravel_index(flat_index, shape)
    return int(idx[0]) if len(shape) == 1 else tuple(int(i) for i in idx)


def _distribution(p, name: str, normalize: bool = False, ndim: int | None = None,
                  sums_to_one: bool = True) -> np.ndarray:
    """Validate ``p`` as a probability array and return a float64 copy of it.

    ``ndim`` None accepts any array of at least one dimension. ``sums_to_one=False``
    checks only the entries (for per-outcome quantities such as code lengths).
    """
    try:
        arr = np.array(p, dtype=np.float64)  # always a copy: callers' arrays stay untouched
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if arr.ndim == 0:
        raise ValueError(f"{name} must be an array, not a scalar")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    flat = arr.ravel()
    if np.isnan(flat).any():
        raise ValueError(f"{name} contains NaN")
    if np.isinf(flat).any():
        raise ValueError(f"{name} contains inf")
    negative = np.flatnonzero(flat < 0)
    if negative.size:
        i = negative[0]
        raise ValueError(f"{name} has a negative entry {flat[i]:g} at index "
                         f"{_where(i, arr.shape)}")
    if not sums_to_one:
        return arr
    total = float(flat.sum())
    if normalize:
        if total == 0:
            raise ValueError(f"{name} is all zeros; cannot normalize")
        if not math.isfinite(total):
            raise ValueError(f"{name} sums to {total} (overflow); cannot normalize")
        return arr / total
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name} sums to {total:.10g}, not 1 "
                         "(pass normalize=True to rescale weights)")
    return arr


def _same_shape(p: np.ndarray, q: np.ndarray, names=("p", "q")) -> None:
    if p.shape != q.shape:
        raise ValueError(f"{names[0]} and {names[1]} have different shapes "
                         f"{p.shape} and {q.shape}")


def _log_for(base):
    """The elementwise logarithm in ``base``; rejects bases that give no unit."""
    real = isinstance(base, numbers.Real) and not isinstance(base, bool)
    b = float(base) if real else math.nan
    if not math.isfinite(b) or b <= 0 or b == 1:
        raise ValueError(f"base must be a positive finite number other than 1, "
                         f"got {base!r}")
    exact = _EXACT_LOGS.get(b)
    if exact is not None:
        return exact
    scale = math.log(b)
    return lambda x: np.log(x) / scale


def _plogp(p: np.ndarray, log) -> np.ndarray:
    """Elementwise p log p with 0 log 0 = 0 (log is never evaluated at 0)."""
    return p * log(np.where(p > 0, p, 1.0))


def _nonneg(x) -> float:
    """A quantity that is >= 0 in exact arithmetic, with round-off (and -0.0) removed."""
    return max(0.0, float(x))


# -- single distributions --------------------------------------------------------------
def entropy(p, base=2, normalize=False) -> float:
    """Shannon entropy H(p) = -sum_i p_i log p_i, in units of ``base`` (2: bits).

    ``p`` may have any shape; a 2-D table is treated as a distribution over its cells.
    """
    log = _log_for(base)
    p = _distribution(p, "p", normalize)
    return _nonneg(-_plogp(p, log).sum())


def cross_entropy(p, q, base=2, normalize=False) -> float:
    """Cross-entropy H(p, q) = -sum_i p_i log q_i, in units of ``base``.

    The expected code length (questions) when outcomes come from ``p`` but the code is
    built for ``q``. ``inf`` if some outcome has q_i = 0 < p_i. With ``normalize=True``
    both ``p`` and ``q`` are rescaled.
    """
    log = _log_for(base)
    p = _distribution(p, "p", normalize)
    q = _distribution(q, "q", normalize)
    _same_shape(p, q)
    support = p > 0
    if np.any(q[support] == 0):
        return math.inf
    return _nonneg(-(p[support] * log(q[support])).sum())


def kl_divergence(p, q, base=2, normalize=False) -> float:
    """Kullback-Leibler divergence KL(p || q) = sum_i p_i log(p_i / q_i), in ``base`` units.

    Terms with p_i = 0 are 0; ``inf`` if some outcome has q_i = 0 < p_i. Equals
    ``cross_entropy(p, q) - entropy(p)`` and is >= 0 (tiny negative round-off is
    clipped to 0).
    """
    log = _log_for(base)
    p = _distribution(p, "p", normalize)
    q = _distribution(q, "q", normalize)
    _same_shape(p, q)
    support = p > 0
    ps, qs = p[support], q[support]
    if np.any(qs == 0):
        return math.inf
    # log p - log q rather than log(p / q): the ratio can overflow for subnormal q.
    return _nonneg((ps * (log(ps) - log(qs))).sum())


def surprise(p, base=2, normalize=False) -> np.ndarray:
    """Per-outcome surprise (self-information) -log p_i, in ``base`` units.

    Returns an array shaped like ``p``; ``inf`` where p_i = 0. ``entropy(p)`` is the
    p-weighted mean of this array.
    """
    log = _log_for(base)
    p = _distribution(p, "p", normalize)
    with np.errstate(divide="ignore"):
        return 0.0 - log(p)  # 0.0 - x, not -x: log(1) = 0 gives 0.0, not -0.0


def binary_entropy(p, base=2):
    """Entropy of a coin with P(heads) = p: -p log p - (1-p) log(1-p), in ``base`` units.

    Vectorised: ``p`` may be a scalar (returns a float) or an array of values in
    [0, 1] (returns an array of the same shape). h(0) = h(1) = 0, h(1/2) = 1 bit.
    """
    log = _log_for(base)
    try:
        arr = np.array(p, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"p must be a number or an array of numbers ({exc})") from None
    if arr.size == 0:
        raise ValueError("p is empty")
    flat = arr.ravel()
    if np.isnan(flat).any():
        raise ValueError("p contains NaN")
    outside = np.flatnonzero((flat < 0) | (flat > 1))
    if outside.size:
        i = outside[0]
        where = "" if arr.ndim == 0 else f" at index {_where(i, arr.shape)}"
        raise ValueError(f"p must lie in [0, 1], got {flat[i]:g}{where}")
    # Both terms are <= 0, so abs() is their negation without producing -0.0.
    h = np.abs(_plogp(arr, log) + _plogp(1.0 - arr, log))
    return float(h) if h.ndim == 0 else h


# -- joint tables ----------------------------------------------------------------------
def marginals(pxy, normalize=False) -> tuple[np.ndarray, np.ndarray]:
    """The marginals ``(px, py)`` of a joint table (rows = x, columns = y)."""
    pxy = _distribution(pxy, "pxy", normalize, ndim=2)
    return pxy.sum(axis=1), pxy.sum(axis=0)


def joint_entropy(pxy, base=2, normalize=False) -> float:
    """Joint entropy H(X, Y) = -sum_{x,y} p(x,y) log p(x,y) of a 2-D table."""
    log = _log_for(base)
    pxy = _distribution(pxy, "pxy", normalize, ndim=2)
    return _nonneg(-_plogp(pxy, log).sum())


def conditional_entropy(pxy, base=2, normalize=False) -> float:
    """Conditional entropy H(X | Y) = -sum p(x,y) log p(x | y); rows = x, columns = y.

    Computed directly rather than as H(X,Y) - H(Y) to avoid cancellation. Columns with
    p(y) = 0 contribute 0. For H(Y | X) pass ``pxy.T``.
    """
    log = _log_for(base)
    pxy = _distribution(pxy, "pxy", normalize, ndim=2)
    py = np.broadcast_to(pxy.sum(axis=0), pxy.shape)
    support = pxy > 0  # p(x,y) > 0 implies p(y) > 0
    return _nonneg(-(pxy[support] * (log(pxy[support]) - log(py[support]))).sum())


def mutual_information(pxy, base=2, normalize=False) -> float:
    """Mutual information I(X; Y) = sum p(x,y) log[p(x,y) / (p(x) p(y))] >= 0.

    Equals H(X) + H(Y) - H(X,Y) and KL(p(x,y) || p(x)p(y)); symmetric in X and Y.
    Tiny negative round-off is clipped to 0.
    """
    log = _log_for(base)
    pxy = _distribution(pxy, "pxy", normalize, ndim=2)
    px, py = pxy.sum(axis=1), pxy.sum(axis=0)
    rows, cols = np.nonzero(pxy)
    p = pxy[rows, cols]
    return _nonneg((p * (log(p) - log(px[rows]) - log(py[cols]))).sum())


def pmi(pxy, base=2, normalize=False) -> np.ndarray:
    """Pointwise mutual information matrix log[p(x,y) / (p(x) p(y))], shaped like ``pxy``.

    ``-inf`` where p(x,y) = 0 but both marginals are positive (the pair never happens);
    ``NaN`` where p(x) = 0 or p(y) = 0 (the pair's PMI is undefined: 0/0).
    ``mutual_information`` is the p(x,y)-weighted sum of the finite entries.
    """
    log = _log_for(base)
    pxy = _distribution(pxy, "pxy", normalize, ndim=2)
    px, py = pxy.sum(axis=1), pxy.sum(axis=0)
    defined = (px[:, None] > 0) & (py[None, :] > 0)
    out = np.full(pxy.shape, np.nan)
    # log(0) = -inf is intended; the -inf - -inf = NaN cells are the undefined ones.
    with np.errstate(divide="ignore", invalid="ignore"):
        full = log(pxy) - log(px)[:, None] - log(py)[None, :]
    out[defined] = full[defined]
    return out


# -- question trees (Huffman) ----------------------------------------------------------
@dataclass(frozen=True)
class QuestionNode:
    """A node of a yes/no question tree.

    A leaf (``yes`` and ``no`` both None) is one outcome: ``label`` names it and
    ``index`` is its position in the probability array. An internal node asks
    "is it one of the outcomes under ``yes``?"; ``prob`` is the total probability of
    the outcomes below it (the root's is 1).
    """

    prob: float
    label: object = None
    yes: QuestionNode | None = None
    no: QuestionNode | None = None
    index: int | None = None

    @property
    def is_leaf(self) -> bool:
        return self.yes is None and self.no is None

    def leaves(self) -> list[QuestionNode]:
        """The leaves under this node, left to right (yes before no)."""
        out: list[QuestionNode] = []
        stack: list[QuestionNode] = [self]
        while stack:  # iterative: skewed trees can be deeper than Python's recursion limit
            node = stack.pop()
            if node.is_leaf:
                out.append(node)
            else:
                assert node.no is not None and node.yes is not None  # not a leaf
                stack.extend((node.no, node.yes))
        return out


def huffman_tree(p, labels=None, normalize=False) -> QuestionNode:
    """The optimal (Huffman) yes/no question tree for the 1-D distribution ``p``.

    Repeatedly merges the two least probable subtrees; the first one taken becomes the
    ``yes`` branch. Ties are broken deterministically by creation order (outcomes in
    index order, then merged subtrees in the order they were made). Preferring
    original outcomes to merged subtrees keeps the tree as shallow as ties allow.
    Zero-probability outcomes are leaves too: they get merged first and sit deepest.
    ``labels`` (default ``"0"``, ``"1"``, ...) name the leaves. A single outcome is a
    lone leaf: zero questions.
    """
    p = _distribution(p, "p", normalize, ndim=1)
    n = p.size
    if labels is None:
        labels = [str(i) for i in range(n)]
    elif len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but p has {n}")
    heap = [(float(pi), i, QuestionNode(float(pi), label=labels[i], index=i))
            for i, pi in enumerate(p)]
    heapq.heapify(heap)
    order = n  # the creation counter: unique, so nodes themselves are never compared
    while len(heap) > 1:
        pa, _, yes = heapq.heappop(heap)
        pb, _, no = heapq.heappop(heap)
        heapq.heappush(heap, (pa + pb, order, QuestionNode(pa + pb, yes=yes, no=no)))
        order += 1
    return heap[0][2]


def tree_lengths(tree: QuestionNode) -> np.ndarray:
    """Depth of every leaf of ``tree`` (the questions it needs), in leaf-``index`` order."""
    found: dict[int, int] = {}
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if node.is_leaf:
            if node.index is None or node.index in found:
                raise ValueError("tree leaves need distinct integer indices")
            found[node.index] = depth
        else:
            if node.yes is None or node.no is None:
                raise ValueError("every internal node needs both a yes and a no branch")
            stack.extend(((node.yes, depth + 1), (node.no, depth + 1)))
    if sorted(found) != list(range(len(found))):
        raise ValueError(f"tree leaf indices must be 0..{len(found) - 1}, "
                         f"got {sorted(found)}")
    return np.array([found[i] for i in range(len(found))], dtype=np.int64)


def huffman_lengths(p, normalize=False) -> np.ndarray:
    """Questions per outcome under the optimal (Huffman) question tree for 1-D ``p``.

    An integer array shaped like ``p``; equal to ``tree_lengths(huffman_tree(p))``.
    Zero-probability outcomes still get a length (they are leaves of the tree).
    ``expected_questions(p, huffman_lengths(p))`` lies in [H(p), H(p) + 1) bits
    (upper bound reached only with zero-probability outcomes, e.g. p = [1, 0] needs
    1 question although H = 0). For n >= 2 the lengths satisfy Kraft's equality
    sum 2^-l = 1; for n = 1 the answer is [0].
    """
    return tree_lengths(huffman_tree(p, normalize=normalize))


def expected_questions(p, lengths) -> float:
    """Expected number of questions sum_i p_i * lengths_i when outcomes are drawn from
    ``p`` and asked with a tree whose leaf depths are ``lengths``.

    With the tree built for another distribution this is the cross-entropy game:
    ``expected_questions(GAME2, huffman_lengths(GAME1))`` is 2 questions, more than
    the 1.75 of GAME2's own tree.
    """
    p = _distribution(p, "p")
    lengths = _distribution(lengths, "lengths", sums_to_one=False)
    _same_shape(p, lengths, ("p", "lengths"))
    return float((p * lengths).sum())


# -- Gaussians -------------------------------------------------------------------------
def _gaussian_params(mu_q, sigma_q, mu_p, sigma_p):
    values = {"mu_q": mu_q, "sigma_q": sigma_q, "mu_p": mu_p, "sigma_p": sigma_p}
    arrays = {}
    for name, value in values.items():
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a number or an array ({exc})") from None
        is_sigma = name.startswith("sigma")
        bad = ~np.isfinite(arr)
        if is_sigma:
            bad |= arr <= 0
        if bad.any():
            need = "positive and finite" if is_sigma else "finite"
            raise ValueError(f"{name} must be {need}, got {arr[bad].ravel()[0]:g}")
        arrays[name] = arr
    try:
        return np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise ValueError(f"Gaussian parameters do not broadcast: {shapes}") from None


def gaussian_kl(mu_q, sigma_q, mu_p, sigma_p):
    """KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) in nats (closed form)::

        log(sigma_p / sigma_q) + (sigma_q^2 + (mu_q - mu_p)^2) / (2 sigma_p^2) - 1/2

    Arguments are standard deviations (not variances), scalars or broadcastable arrays;
    a float comes back for scalars, an array otherwise. sigmas must be > 0 and finite,
    mus finite. Divide by ``math.log(2)`` for bits.
    """
    mq, sq, mp, sp = _gaussian_params(mu_q, sigma_q, mu_p, sigma_p)
    kl = np.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5
    kl = np.maximum(kl, 0.0)
    return float(kl) if kl.ndim == 0 else kl


def gaussian_kl_mc(mu_q, sigma_q, mu_p, sigma_p, n, rng):
    """Monte Carlo estimate of ``gaussian_kl`` (nats) from ``n`` samples x ~ q.

    Averages log q(x) - log p(x) over the samples; returns ``(estimate,
    standard_error)`` where the standard error is the sample standard deviation over
    sqrt(n). Broadcasts like ``gaussian_kl`` (floats for scalar parameters). ``rng`` is
    a ``np.random.Generator`` or a seed for one; ``n`` an integer >= 2.
    """
    mq, sq, mp, sp = _gaussian_params(mu_q, sigma_q, mu_p, sigma_p)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    rng = np.random.default_rng(rng)
    z = rng.standard_normal((int(n),) + mq.shape)
    x = mq + sq * z
    # log q(x) - log p(x); the -log(2 pi)/2 terms cancel.
    log_ratio = np.log(sp / sq) - 0.5 * z**2 + (x - mp) ** 2 / (2 * sp**2)
    estimate = log_ratio.mean(axis=0)
    stderr = log_ratio.std(axis=0, ddof=1) / math.sqrt(n)
    if estimate.ndim == 0:
        return float(estimate), float(stderr)
    return estimate, stderr


@dataclass(frozen=True)
class GaussianKLConfig(Config):
    """A running Monte Carlo estimate of KL(q || p) for q = N(mu_q, sigma_q^2),
    p = N(mu_p, sigma_p^2) (standard deviations, not variances).

    Each step draws ``max(batch, growth * samples so far)`` new samples from q (capped
    at ``max_samples``), so after the first few steps the sample count grows
    geometrically and the history is evenly spaced on a log axis.
    """

    mu_q: float = param(0.0, lo=-5.0, hi=5.0, decimals=2, step=0.01, label="μ_q",
                        help="Mean of q (the distribution the samples come from)")
    sigma_q: float = param(1.0, lo=0.1, hi=5.0, decimals=2, step=0.01, label="σ_q",
                           help="Standard deviation of q (> 0)")
    mu_p: float = param(1.0, lo=-5.0, hi=5.0, decimals=2, step=0.01, label="μ_p",
                        help="Mean of p")
    sigma_p: float = param(2.0, lo=0.1, hi=5.0, decimals=2, step=0.01, label="σ_p",
                           help="Standard deviation of p (> 0)")
    batch: int = param(16, lo=2, hi=10_000_000, gui=False, label="Batch",
                       help="Samples drawn by the first steps")
    growth: float = param(0.05, lo=0.0, hi=10.0, gui=False, label="Growth",
                          help="Each step draws at least this fraction of the samples so far")
    max_samples: int = param(1_000_000, lo=2, hi=1_000_000_000, log=True, label="Samples",
                             help="Stop after this many samples")

    def validate(self) -> GaussianKLConfig:
        # The specific messages first: a sd must be positive, a parameter a single number.
        _gaussian_params(self.mu_q, self.sigma_q, self.mu_p, self.sigma_p)
        for name in ("mu_q", "sigma_q", "mu_p", "sigma_p"):
            if np.ndim(getattr(self, name)) != 0:
                raise ValueError(f"{name} must be a single number")
        super().validate()
        if self.max_samples < self.batch:
            raise ValueError(f"max_samples must be an integer between batch ({self.batch}) "
                             f"and 1,000,000,000, got {self.max_samples!r}")
        return self


class GaussianKLMonteCarlo(Experiment):
    """The Monte Carlo estimate of ``gaussian_kl`` converging, one batch per step.

    Keeps the running mean of log q(x) - log p(x) over all samples x ~ q drawn so far
    and its standard error (sample sd / sqrt(n)), combining batches exactly (Chan et
    al.'s pairwise update), so after any number of steps the numbers equal
    ``gaussian_kl_mc`` on all the samples at once with the same seed, up to round-off.
    ``done`` once ``max_samples`` have been drawn. Results in nats. Each step records
    ``estimate``, ``stderr`` and ``samples`` (the count so far) in ``self.metrics``; the
    three series align point by point (a run to 10^9 samples takes ~400 steps, far
    below the store's full-resolution window).
    """

    config_class = GaussianKLConfig

    def __init__(self, config: GaussianKLConfig | None = None, seed: int | None = None):
        config = (config or GaussianKLConfig()).validate()
        super().__init__(config, seed)
        self.rng = np.random.default_rng(seed)
        c = config
        self.closed_form = gaussian_kl(c.mu_q, c.sigma_q, c.mu_p, c.sigma_p)
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the running mean

    @property
    def stderr(self) -> float:
        """Standard error of the current estimate (NaN before two samples)."""
        if self.n < 2:
            return math.nan
        return math.sqrt(self._m2 / (self.n - 1) / self.n)

    def _step(self):
        c = self.config
        want = max(c.batch, int(c.growth * self.n))
        m = min(want, c.max_samples - self.n)
        if m <= 0:
            return {"estimate": self.mean, "stderr": self.stderr, "samples": float(self.n)}
        z = self.rng.standard_normal(m)
        x = c.mu_q + c.sigma_q * z
        log_ratio = (math.log(c.sigma_p / c.sigma_q) - 0.5 * z**2
                     + (x - c.mu_p) ** 2 / (2 * c.sigma_p**2))
        b_mean = float(log_ratio.mean())
        b_m2 = float(((log_ratio - b_mean) ** 2).sum())
        n = self.n + m
        delta = b_mean - self.mean
        mean = self.mean + delta * m / n
        m2 = self._m2 + b_m2 + delta * delta * self.n * m / n
        if not (math.isfinite(mean) and math.isfinite(m2)):
            raise FloatingPointError(f"the Monte Carlo estimate overflowed after {n} samples")
        self.n, self.mean, self._m2 = n, mean, m2
        return {"estimate": mean, "stderr": self.stderr if n >= 2 else 0.0,
                "samples": float(n)}

    @property
    def done(self) -> bool:
        return self.n >= self.config.max_samples

    def snapshot(self):
        """The current estimate. Its history (``estimate``, ``stderr``, ``samples`` per
        step) is in ``self.metrics``, shipped by the runner (engine.core.runtime)."""
        return {
            "step": self.steps,
            "closed_form": self.closed_form,
            "n": self.n,
            "mean": self.mean,
            "se": self.stderr,
            "done": self.done,
        }
