"""engine.info.measures against independent computations, identities and the lecture's numbers."""
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.info import measures as info
from engine.info.measures import (
    GAME1,
    GAME2,
    GAME_COLOURS,
    QuestionNode,
    binary_entropy,
    conditional_entropy,
    cross_entropy,
    entropy,
    expected_questions,
    gaussian_kl,
    gaussian_kl_mc,
    huffman_lengths,
    huffman_tree,
    joint_entropy,
    kl_divergence,
    marginals,
    mutual_information,
    pmi,
    surprise,
    tree_lengths,
)

BASES = [2, math.e]
FAST = settings(max_examples=150, deadline=None)

# Weights with exact zeros mixed in, so 0 log 0 and empty rows/columns get exercised.
weight = st.one_of(st.just(0.0), st.floats(0.0, 1.0), st.floats(1e-3, 1.0))


@st.composite
def distributions(draw, min_size=1, max_size=8):
    w = draw(arrays(np.float64, st.integers(min_size, max_size), elements=weight))
    if w.sum() == 0:
        w[draw(st.integers(0, w.size - 1))] = 1.0
    return w / w.sum()


@st.composite
def tables(draw):
    shape = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    w = draw(arrays(np.float64, shape, elements=weight))
    if w.sum() == 0:
        w[0, 0] = 1.0
    return w / w.sum()


def random_pair(seed, n, zeros=False):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    if zeros:
        p[0] = 0.0
        p /= p.sum()
    return p, q


# -- against scipy -----------------------------------------------------------------
@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("seed", range(5))
def test_entropy_and_kl_match_scipy(seed, base):
    p, q = random_pair(seed, 2 + seed * 3, zeros=seed % 2 == 1)
    assert entropy(p, base) == pytest.approx(scipy.stats.entropy(p, base=base), rel=1e-12)
    assert kl_divergence(p, q, base) == pytest.approx(
        scipy.stats.entropy(p, q, base=base), rel=1e-10, abs=1e-15)


def test_normalize_rescales_like_scipy():
    w = [3.0, 1.0, 0.0, 4.0]
    assert entropy(w, normalize=True) == pytest.approx(scipy.stats.entropy(w, base=2))
    assert kl_divergence(w, [1, 1, 1, 1], normalize=True) == pytest.approx(
        scipy.stats.entropy(w, [1, 1, 1, 1], base=2))


def test_other_bases_are_rescaled_nats():
    p = [0.2, 0.3, 0.5]
    assert entropy(p, 10) == pytest.approx(scipy.stats.entropy(p, base=10))
    assert entropy(p, 3) == pytest.approx(entropy(p, math.e) / math.log(3))


# -- identities --------------------------------------------------------------------
@FAST
@given(tables())
def test_joint_table_identities(pxy):
    px, py = marginals(pxy)
    hx, hy, hxy = entropy(px), entropy(py), joint_entropy(pxy)
    mi = mutual_information(pxy)
    assert hxy == pytest.approx(hy + conditional_entropy(pxy), abs=1e-9)
    assert hxy == pytest.approx(hx + conditional_entropy(pxy.T), abs=1e-9)
    assert mi >= 0
    assert mi == pytest.approx(hx + hy - hxy, abs=1e-9)
    assert mi == pytest.approx(mutual_information(pxy.T), abs=1e-12)
    product = np.outer(px, py)
    if np.all(product[pxy > 0] > 0):  # px*py can underflow to 0 for subnormal entries
        assert mi == pytest.approx(kl_divergence(pxy, product), abs=1e-9)
    support = pxy > 0
    assert mi == pytest.approx(float((pxy[support] * pmi(pxy)[support]).sum()), abs=1e-9)
    assert np.allclose(pmi(pxy.T), pmi(pxy).T, equal_nan=True)


@FAST
@given(st.data())
def test_kl_is_cross_entropy_minus_entropy(data):
    p = data.draw(distributions())
    q = data.draw(distributions(min_size=p.size, max_size=p.size))
    kl, h, hpq = kl_divergence(p, q), entropy(p), cross_entropy(p, q)
    assert kl >= 0
    if math.isinf(hpq):
        assert math.isinf(kl)
    else:
        assert kl == pytest.approx(hpq - h, abs=1e-9)
    assert kl_divergence(p, p) == 0.0


@FAST
@given(distributions())
def test_entropy_is_mean_surprise_and_bounded(p):
    h = entropy(p)
    support = p > 0
    assert h == pytest.approx(float((p[support] * surprise(p)[support]).sum()), abs=1e-12)
    assert 0 <= h <= math.log2(p.size) + 1e-12
    assert np.all(np.isinf(surprise(p)[~support]))


def test_independent_table_has_zero_information():
    pxy = np.outer([0.2, 0.8], [0.1, 0.3, 0.6])
    assert mutual_information(pxy) == pytest.approx(0, abs=1e-15)
    assert conditional_entropy(pxy) == pytest.approx(entropy([0.2, 0.8]))
    assert np.allclose(pmi(pxy), 0)


def test_pmi_special_values():
    pxy = np.array([[0.5, 0.0, 0.0],
                    [0.0, 0.5, 0.0]])  # third column has p(y) = 0
    m = pmi(pxy)
    assert m[0, 0] == pytest.approx(1.0) and m[1, 1] == pytest.approx(1.0)
    assert m[0, 1] == -np.inf and m[1, 0] == -np.inf
    assert np.all(np.isnan(m[:, 2]))
    assert mutual_information(pxy) == pytest.approx(1.0)
    assert conditional_entropy(pxy) == 0.0


def test_binary_entropy_vectorised():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    expected = [scipy.stats.entropy([x, 1 - x], base=2) for x in p]
    assert np.allclose(binary_entropy(p), expected)
    assert isinstance(binary_entropy(0.5), float) and binary_entropy(0.5) == 1.0
    assert binary_entropy(0.3, base=math.e) == pytest.approx(
        scipy.stats.entropy([0.3, 0.7]))
    assert binary_entropy(p.reshape(5, 1)).shape == (5, 1)


# -- the lecture's numbers ---------------------------------------------------------
def test_lecture_numbers():
    assert entropy([1 / 6] * 6) == pytest.approx(2.585, abs=5e-4)
    heads, tails = surprise([0.9, 0.1])
    assert heads == pytest.approx(0.152, abs=5e-4)
    assert tails == pytest.approx(3.32, abs=5e-3)
    assert float(np.sum(binary_entropy(np.full(1000, 0.5)))) == 1000.0
    ten_bits = np.full(2**10, 2.0**-10)
    assert entropy(ten_bits) == 10.0
    assert entropy(GAME1) == 2.0 and entropy(GAME2) == 1.75
    assert cross_entropy(GAME2, GAME1) == 2.0
    assert kl_divergence(GAME2, GAME1) == 0.25


def test_guessing_games():
    assert list(huffman_lengths(GAME1)) == [2, 2, 2, 2]          # Game 1: 2 questions
    game2 = huffman_lengths(GAME2)
    assert list(game2) == [1, 3, 3, 2]
    assert expected_questions(GAME2, game2) == 1.75 == entropy(GAME2)   # Game 2
    game3 = expected_questions(GAME2, huffman_lengths(GAME1))           # Game 3
    assert game3 == 2.0 == cross_entropy(GAME2, GAME1) and game3 > 1.75
    assert dict(zip(GAME_COLOURS, GAME2, strict=False)) == {"blue": 0.5, "red": 0.125,
                                              "green": 0.125, "yellow": 0.25}


def test_game2_tree_asks_blue_first():
    tree = huffman_tree(GAME2, labels=GAME_COLOURS)
    assert tree.prob == 1.0 and not tree.is_leaf
    assert tree.yes.is_leaf and tree.yes.label == "blue"
    assert tree.no.yes.label == "yellow"
    assert [leaf.label for leaf in tree.no.no.leaves()] == ["red", "green"]
    assert [leaf.label for leaf in tree.leaves()] == ["blue", "yellow", "red", "green"]


# -- Huffman -----------------------------------------------------------------------
def reference_expected_length(p):
    """Expected Huffman length = sum of the merged weights (independent of tie-breaks)."""
    weights, total = sorted(p), 0.0
    while len(weights) > 1:
        merged = weights.pop(0) + weights.pop(0)
        total += merged
        weights = sorted(weights + [merged])
    return total


@FAST
@given(distributions(max_size=12))
def test_huffman_is_optimal_and_within_a_bit_of_entropy(p):
    lengths = huffman_lengths(p)
    assert lengths.dtype.kind == "i" and lengths.shape == p.shape
    length, h = expected_questions(p, lengths), entropy(p)
    assert length == pytest.approx(reference_expected_length(list(p)), abs=1e-12)
    assert h - 1e-9 <= length
    # Strictly below H + 1 in exact arithmetic when all p > 0; reached with zeros ([1, 0]).
    assert length <= h + 1 + 1e-9
    if p.size >= 2:
        assert math.fsum(2.0 ** -lengths) == 1.0   # Kraft equality: a full tree
    else:
        assert list(lengths) == [0]


@FAST
@given(distributions(max_size=12))
def test_tree_agrees_with_lengths(p):
    tree = huffman_tree(p)
    assert np.array_equal(tree_lengths(tree), huffman_lengths(p))
    assert sorted(leaf.index for leaf in tree.leaves()) == list(range(p.size))
    stack = [tree]
    while stack:
        node = stack.pop()
        if not node.is_leaf:
            assert node.prob == node.yes.prob + node.no.prob
            stack += [node.yes, node.no]


def test_huffman_edge_cases():
    assert list(huffman_lengths([1.0])) == [0]
    assert huffman_tree([1.0], labels=["only"]) == QuestionNode(1.0, "only", index=0)
    assert list(huffman_lengths([1.0, 0.0])) == [1, 1]    # zero-probability leaves count
    assert list(huffman_lengths([0.0, 1.0, 0.0])) == [2, 1, 2]
    assert list(huffman_lengths([4, 1, 1, 2], normalize=True)) == [1, 3, 3, 2]  # GAME2
    ties = [0.2] * 5
    assert np.array_equal(huffman_lengths(ties), huffman_lengths(ties))  # deterministic
    with pytest.raises(ValueError, match="labels"):
        huffman_tree(GAME2, labels=["a", "b"])
    with pytest.raises(ValueError, match="1-D"):
        huffman_lengths([[0.5, 0.5]])


def test_inputs_are_not_mutated():
    p = np.array([2.0, 1.0, 1.0])
    pxy = np.array([[1.0, 1.0], [2.0, 0.0]])
    p0, pxy0 = p.copy(), pxy.copy()
    entropy(p, normalize=True)
    kl_divergence(p, p[::-1], normalize=True)
    huffman_tree(p, normalize=True)
    mutual_information(pxy, normalize=True)
    pmi(pxy, normalize=True)
    assert np.array_equal(p, p0) and np.array_equal(pxy, pxy0)


def test_results_are_python_floats():
    for value in (entropy(GAME2), cross_entropy(GAME2, GAME1), kl_divergence(GAME2, GAME1),
                  joint_entropy([[0.5, 0.5]]), conditional_entropy([[0.5, 0.5]]),
                  mutual_information([[0.5, 0.5]]), expected_questions(GAME1, [2] * 4),
                  gaussian_kl(0, 1, 0, 2)):
        assert type(value) is float
    assert entropy([1.0]) == 0.0 and math.copysign(1, entropy([1.0])) == 1  # not -0.0


# -- infinities --------------------------------------------------------------------
def test_kl_and_cross_entropy_infinite_off_support():
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert cross_entropy([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == 1.0   # p = 0 terms are 0
    assert surprise([1.0, 0.0])[1] == math.inf


# -- Gaussians ---------------------------------------------------------------------
GAUSSIANS = [(0, 1, 0, 1), (0, 1, 1, 2), (2, 0.5, -1, 1.5), (0, 3, 0, 0.5), (-4, 0.1, 1, 7)]


def kl_by_quadrature(mq, sq, mp, sp):
    q, p = scipy.stats.norm(mq, sq), scipy.stats.norm(mp, sp)
    integrand = lambda x: q.pdf(x) * (q.logpdf(x) - p.logpdf(x))  # noqa: E731
    value, _ = scipy.integrate.quad(integrand, mq - 20 * sq, mq + 20 * sq, limit=200)
    return value


@pytest.mark.parametrize("params", GAUSSIANS)
def test_gaussian_kl_matches_quadrature(params):
    exact = kl_by_quadrature(*params)
    assert gaussian_kl(*params) == pytest.approx(exact, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("params", GAUSSIANS)
def test_gaussian_kl_mc_within_four_standard_errors(params):
    estimate, se = gaussian_kl_mc(*params, n=100_000, rng=np.random.default_rng(7))
    exact = gaussian_kl(*params)
    assert abs(estimate - exact) <= 4 * se + 1e-12
    assert se >= 0


def test_gaussian_kl_broadcasts():
    mu_q = np.array([0.0, 1.0, 2.0])
    out = gaussian_kl(mu_q, 1.0, 0.0, np.array([[1.0], [2.0]]))
    assert out.shape == (2, 3)
    assert out[1, 2] == pytest.approx(gaussian_kl(2.0, 1.0, 0.0, 2.0))
    est, se = gaussian_kl_mc(mu_q, 1.0, 0.0, 1.0, n=20_000, rng=0)
    assert est.shape == se.shape == (3,)
    assert np.all(np.abs(est - gaussian_kl(mu_q, 1.0, 0.0, 1.0)) <= 4 * se + 1e-12)


# -- invalid input -----------------------------------------------------------------
DISTRIBUTION_FUNCTIONS = {
    "entropy": lambda p: entropy(p),
    "surprise": lambda p: surprise(p),
    "cross_entropy(p)": lambda p: cross_entropy(p, [0.25] * 4),
    "kl(q)": lambda q: kl_divergence([0.25] * 4, q),
    "huffman_lengths": lambda p: huffman_lengths(p),
    "huffman_tree": lambda p: huffman_tree(p),
    "expected_questions": lambda p: expected_questions(p, [2] * 4),
}
TABLE_FUNCTIONS = {
    "joint_entropy": joint_entropy, "conditional_entropy": conditional_entropy,
    "mutual_information": mutual_information, "pmi": pmi, "marginals": marginals,
}
BAD_DISTRIBUTIONS = [
    ([0.5, 0.6, -0.1, 0.0], "negative entry -0.1 at index 2"),
    ([0.5, np.nan, 0.25, 0.25], "contains NaN"),
    ([0.5, np.inf, 0.25, 0.25], "contains inf"),
    ([], "is empty"),
    ([0.3, 0.3, 0.2, 0.1], r"sums to 0.9, not 1 \(pass normalize=True"),
    ([0.25, 0.25, 0.25, 0.25 + 2e-6], "not 1"),
    (0.5, "not a scalar"),
    (["a", "b", "c", "d"], "array of numbers"),
]


@pytest.mark.parametrize("bad, message", BAD_DISTRIBUTIONS)
@pytest.mark.parametrize("name", DISTRIBUTION_FUNCTIONS)
def test_invalid_distributions_raise(name, bad, message):
    with pytest.raises(ValueError, match=message):
        DISTRIBUTION_FUNCTIONS[name](bad)


@pytest.mark.parametrize("name", TABLE_FUNCTIONS)
@pytest.mark.parametrize("bad, message", [
    ([0.5, 0.5], "pxy must be 2-D"),
    ([[[1.0]]], "pxy must be 2-D"),
    ([[0.5, -0.1], [0.3, 0.3]], r"pxy has a negative entry -0.1 at index \(0, 1\)"),
    ([[0.5, np.nan]], "pxy contains NaN"),
    (np.zeros((0, 3)), "pxy is empty"),
    ([[0.5, 0.4]], "pxy sums to 0.9"),
])
def test_invalid_tables_raise(name, bad, message):
    with pytest.raises(ValueError, match=message):
        TABLE_FUNCTIONS[name](bad)


def test_tolerance_and_normalize_rules():
    assert entropy([0.5, 0.5 + 5e-7]) == pytest.approx(1.0, abs=1e-6)  # within 1e-6
    with pytest.raises(ValueError, match="negative"):
        entropy([2.0, -1.0], normalize=True)
    with pytest.raises(ValueError, match="all zeros"):
        entropy([0.0, 0.0], normalize=True)
    with pytest.raises(ValueError, match="NaN"):
        mutual_information([[1.0, np.nan]], normalize=True)
    with pytest.raises(ValueError, match="inf"):
        kl_divergence([1, 1], [1, np.inf], normalize=True)


def test_mismatched_shapes_raise():
    shapes = r"p and q have different shapes \(3,\) and \(4,\)"
    with pytest.raises(ValueError, match=shapes):
        kl_divergence([0.2, 0.3, 0.5], [0.25] * 4)
    with pytest.raises(ValueError, match="p and q have different shapes"):
        cross_entropy([0.2, 0.3, 0.5], [0.25] * 4)
    with pytest.raises(ValueError, match="p and lengths have different shapes"):
        expected_questions(GAME2, [1, 2, 3])
    with pytest.raises(ValueError, match="lengths has a negative entry"):
        expected_questions(GAME2, [1, -2, 3, 3])


@pytest.mark.parametrize("base", [0, -2, 1, 1.0, math.inf, math.nan, "2", None, True])
def test_bad_base_raises(base):
    for call in (lambda: entropy(GAME2, base), lambda: kl_divergence(GAME2, GAME1, base),
                 lambda: mutual_information([[0.5, 0.5]], base),
                 lambda: binary_entropy(0.5, base)):
        with pytest.raises(ValueError, match="base"):
            call()


def test_binary_entropy_rejects_out_of_range():
    cases = [(1.5, r"in \[0, 1\], got 1.5"), ([0.5, -0.1], "got -0.1 at index 1"),
             (np.nan, "NaN"), ([], "empty")]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            binary_entropy(bad)


@pytest.mark.parametrize("args, message", [
    ((0, 0, 0, 1), "sigma_q must be positive"),
    ((0, 1, 0, -1), "sigma_p must be positive"),
    ((0, np.inf, 0, 1), "sigma_q must be positive and finite"),
    ((np.nan, 1, 0, 1), "mu_q must be finite"),
    ((0, 1, np.inf, 1), "mu_p must be finite"),
    ((0, [1.0, -2.0], 0, 1), "sigma_q .* got -2"),
    (([0, 1], 1, [0, 1, 2], 1), "do not broadcast"),
])
def test_bad_gaussian_parameters_raise(args, message):
    with pytest.raises(ValueError, match=message):
        gaussian_kl(*args)
    with pytest.raises(ValueError, match=message):
        gaussian_kl_mc(*args, n=10, rng=0)


@pytest.mark.parametrize("n", [0, 1, 2.5, True, "100"])
def test_gaussian_kl_mc_bad_n(n):
    with pytest.raises(ValueError, match="n must be"):
        gaussian_kl_mc(0, 1, 0, 1, n=n, rng=0)


def test_public_api_is_listed():
    for name in info.__all__:
        assert hasattr(info, name)


# -- GaussianKLMonteCarlo (the Experiment behind the GUI's live estimate) ----------
from engine.info.measures import GaussianKLConfig, GaussianKLMonteCarlo  # noqa: E402


def run_to_end(exp, limit=10_000):
    while not exp.done and exp.steps < limit:
        exp.step()
    return exp


def test_mc_experiment_is_deterministic_given_seed():
    a = run_to_end(GaussianKLMonteCarlo(GaussianKLConfig(max_samples=20_000), seed=5))
    b = run_to_end(GaussianKLMonteCarlo(GaussianKLConfig(max_samples=20_000), seed=5))
    c = run_to_end(GaussianKLMonteCarlo(GaussianKLConfig(max_samples=20_000), seed=6))
    sa, sc = a.snapshot(), c.snapshot()
    for key in ("samples", "estimate", "stderr"):
        np.testing.assert_array_equal(a.metrics.get(key)[1], b.metrics.get(key)[1])
    assert sa["mean"] != sc["mean"]


@pytest.mark.parametrize("params", [(0.0, 1.0, 1.0, 2.0), (-1.5, 0.3, 2.0, 0.7), (3.0, 2.0, 3.0, 2.0)])
def test_mc_experiment_equals_one_big_batch(params):
    """Batches combined exactly: the same numbers as gaussian_kl_mc on all samples."""
    mq, sq, mp, sp = params
    exp = GaussianKLMonteCarlo(GaussianKLConfig(mq, sq, mp, sp, batch=7, growth=0.1,
                                                max_samples=5_000), seed=11)
    run_to_end(exp)
    assert exp.n == 5_000 and exp.done
    estimate, se = gaussian_kl_mc(mq, sq, mp, sp, n=exp.n, rng=11)
    assert exp.mean == pytest.approx(estimate, rel=1e-9, abs=1e-12)
    assert exp.stderr == pytest.approx(se, rel=1e-7, abs=1e-12)


def test_mc_experiment_converges_to_closed_form():
    config = GaussianKLConfig(mu_q=0.5, sigma_q=0.8, mu_p=-1.0, sigma_p=1.5, max_samples=400_000)
    exp = run_to_end(GaussianKLMonteCarlo(config, seed=0))
    snap = exp.snapshot()
    exact = gaussian_kl(0.5, 0.8, -1.0, 1.5)
    assert snap["closed_form"] == exact
    assert abs(snap["mean"] - exact) <= 4 * snap["se"]
    assert snap["se"] < 0.01 * exact
    # History: sample counts increase to max_samples; SE shrinks like 1/sqrt(n).
    n, se = exp.metrics.get("samples")[1], exp.metrics.get("stderr")[1]
    assert np.all(np.diff(n) > 0) and n[-1] == 400_000 and n[0] == config.batch
    assert len(n) == exp.steps < 300  # geometric growth: a few hundred steps at most
    assert se[-1] * math.sqrt(n[-1]) == pytest.approx(se[len(se) // 2] * math.sqrt(n[len(n) // 2]),
                                                      rel=0.1)
    # Geometric growth: evenly spaced on a log axis once growth dominates the batch.
    ratios = n[1:] / n[:-1]
    assert np.all(ratios[n[:-1] > 10 * config.batch / config.growth][:-1] == pytest.approx(
        1 + config.growth, rel=0.01))


def test_mc_experiment_equal_distributions_give_zero():
    exp = run_to_end(GaussianKLMonteCarlo(GaussianKLConfig(1.0, 2.0, 1.0, 2.0, max_samples=1000),
                                          seed=1))
    assert exp.mean == pytest.approx(0.0, abs=1e-12)
    assert exp.stderr == pytest.approx(0.0, abs=1e-12)
    assert exp.closed_form == 0.0


def test_mc_experiment_snapshot_and_metrics():
    exp = GaussianKLMonteCarlo(GaussianKLConfig(batch=10, growth=0.0, max_samples=35), seed=2)
    empty = exp.snapshot()
    assert empty["n"] == 0 and len(exp.metrics.get("samples")[0]) == 0 and math.isnan(empty["se"])
    assert "metrics" not in empty  # the runner ships the history (engine.core.runtime)
    exp.step()
    steps, values = exp.metrics.get("estimate")
    values[:] = 99.0  # a copy: the experiment's history is untouched
    assert exp.metrics.get("estimate")[1][0] != 99.0
    run_to_end(exp)
    assert exp.steps == 4 and exp.n == 35  # 10 + 10 + 10 + 5: the last batch is capped
    metrics = exp.metrics.as_arrays()
    assert metrics["samples"].tolist() == [10, 20, 30, 35]
    assert metrics["step"].tolist() == [1, 2, 3, 4]
    assert metrics["estimate"][-1] == exp.mean and metrics["stderr"][-1] == exp.stderr
    exp.step()  # stepping past the end changes nothing
    assert exp.n == 35


@pytest.mark.parametrize("kwargs, message", [
    (dict(sigma_q=0.0), "sigma_q must be positive"),
    (dict(sigma_p=-1.0), "sigma_p must be positive"),
    (dict(mu_p=math.nan), "mu_p must be finite"),
    (dict(mu_q=math.inf), "mu_q must be finite"),
    (dict(mu_q=[0.0, 1.0]), "single number"),
    (dict(batch=1), "batch must be"),
    (dict(batch=2.5), "batch must be"),
    (dict(batch=True), "batch must be"),
    (dict(growth=-0.1), "growth must be"),
    (dict(growth=math.nan), "growth must be"),
    (dict(max_samples=5, batch=10), "max_samples must be"),
    (dict(max_samples=10**12), "max_samples must be"),
])
def test_mc_experiment_rejects_bad_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianKLMonteCarlo(GaussianKLConfig(**kwargs), seed=0)
