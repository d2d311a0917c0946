"""Cross-entropy and KL divergence of two distributions, and the lecture's coin games."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.info.measures import (
    GAME1,
    GAME2,
    GAME_COLOURS,
    cross_entropy,
    entropy,
    expected_questions,
    huffman_tree,
    kl_divergence,
    tree_lengths,
)
from vigui.pages.info.common import (
    QuestionTreeView,
    Section,
    bar_colours,
    fmt,
    group,
    outcomes_row,
    small_font,
    static_plot,
    summary_label,
)
from vigui.widgets.distribution_editor import DistributionEditor, DraggableBars, as_distribution
from vigui.widgets.plots import colour, fitted_axes

MIN_N, MAX_N = 2, 12
COINS = list(GAME_COLOURS)

#: name -> (p, q, labels, description)
GAMES = {
    "Game 1": (GAME1, GAME1, COINS,
               "four coins, each with probability ¼. The best strategy asks 2 questions "
               "every time: H(p) = 2 bits."),
    "Game 2": (GAME2, GAME2, COINS,
               "blue ½, red ⅛, green ⅛, yellow ¼. Ask about blue first: "
               "1.75 questions on average = H(p)."),
    "Game 3": (GAME2, GAME1, COINS,
               "Game 1's strategy (built for q = uniform) played on Game 2's coins (p): "
               "2 questions on average, more than the 1.75 of the right strategy. "
               "The extra 0.25 is KL(p‖q)."),
    "q misses an outcome": ([0.4, 0.3, 0.2, 0.1], [0.5, 0.3, 0.2, 0.0], COINS,
                            "q gives yellow probability 0 but p draws it: q's ideal code length "
                            "for yellow is −log₂ 0 = ∞, so H(p,q) = KL(p‖q) = ∞. (The tree "
                            "below still ends: Huffman gives yellow a deepest leaf.)"),
}


class DivergenceSection(Section):
    title = "Cross-entropy and KL"
    anchor = "kl"

    def build(self) -> None:
        self.game: str | None = None
        self._presetting = False

        # -- controls -----------------------------------------------------------------
        n_row, self.n_box = outcomes_row(MIN_N, MAX_N, 4, "Number of outcomes of p and q (2 to 12)")
        self.controls_layout.addWidget(n_row)

        games = QWidget()
        grid = QGridLayout(games)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(3)
        self.game_buttons: dict[str, QPushButton] = {}
        for i, name in enumerate(GAMES):
            button = QPushButton(name if name.startswith("Game") else "q = 0 < p (∞)")
            button.setToolTip(GAMES[name][3])
            button.clicked.connect(lambda _=False, name=name: self.apply_game(name))
            grid.addWidget(button, i // 2, i % 2)
            self.game_buttons[name] = button
        self.swap = QPushButton("Swap p ↔ q")
        self.swap.setToolTip("Exchange p and q: KL is not symmetric")
        grid.addWidget(self.swap, 2, 0, 1, 2)
        self.controls_layout.addWidget(group("The coin games", games))

        self.p_editor = DistributionEditor(4)
        self.q_editor = DistributionEditor(4)
        self.controls_layout.addWidget(group("p: where the outcomes come from", self.p_editor))
        self.controls_layout.addWidget(group("q: what the code / questions are built for",
                                             self.q_editor))

        self.n_box.valueChanged.connect(self._n_changed)
        self.p_editor.changed.connect(self._edited)
        self.q_editor.changed.connect(self._edited)
        self.swap.clicked.connect(self.swap_pq)

        # -- views ----------------------------------------------------------------------
        lay = QVBoxLayout(self.view)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)
        bars = QHBoxLayout()
        self.p_bars = DraggableBars("p (drag bars)", "probability")
        self.q_bars = DraggableBars("q (drag bars)", "probability")
        self.p_bars.dragged.connect(self.p_editor.set_prob)
        self.q_bars.dragged.connect(self.q_editor.set_prob)
        bars.addWidget(self.p_bars)
        bars.addWidget(self.q_bars)
        for w in (self.p_bars, self.q_bars):
            w.setMinimumHeight(150)
            w.setMaximumHeight(210)
        lay.addLayout(bars, 3)

        measures = QHBoxLayout()
        self.measure_widget = pg.PlotWidget(axisItems=fitted_axes())
        self.measures = static_plot(self.measure_widget, "Cross-entropy = entropy + KL (bits)")
        self.measures.showGrid(x=True, alpha=0.15)
        self.measures.getAxis("left").setTicks([[(1, "H(p,q)"), (0, "H(q,p)")]])
        self.segments = pg.BarGraphItem(x0=[], y=[], width=[], height=0.6, brushes=[],
                                        pen=pg.mkPen((60, 60, 60)))
        self.measures.addItem(self.segments)
        self.segment_texts = []
        for _ in range(4):
            text = pg.TextItem(anchor=(0.5, 0.5), color=(20, 20, 20))
            text.setFont(small_font(8))
            self.measures.addItem(text)
            self.segment_texts.append(text)
        self.measure_widget.setMinimumHeight(110)
        self.measure_widget.setMaximumHeight(150)
        measures.addWidget(self.measure_widget, 3)
        self.summary = summary_label()
        self.summary.setMinimumWidth(230)
        measures.addWidget(self.summary, 2)
        lay.addLayout(measures, 2)

        self.game_label = summary_label()
        lay.addWidget(self.game_label)
        trees = QHBoxLayout()
        self.q_tree = QuestionTreeView("q's tree, used on p")
        self.p_tree = QuestionTreeView("p's own (best) tree")
        for w in (self.q_tree, self.p_tree):
            w.setMinimumHeight(220)
        trees.addWidget(self.q_tree)
        trees.addWidget(self.p_tree)
        lay.addLayout(trees, 6)

        self.apply_game("Game 3")

    # -- editing --------------------------------------------------------------------------
    def _n_changed(self, n: int) -> None:
        self.game = None
        self._presetting = True
        try:
            self.p_editor.set_n(n, emit=False)
            self.q_editor.set_n(n, emit=False)
        finally:
            self._presetting = False
        self.update()

    def _edited(self, *_args) -> None:
        if self._presetting:
            return
        self.game = None
        self.update()

    def set_pair(self, p, q, labels=None, game: str | None = None) -> bool:
        p, q = as_distribution(p), as_distribution(q)
        if p is None or q is None or p.size != q.size or not MIN_N <= p.size <= MAX_N:
            return False
        self.game = game if game in GAMES else None
        if labels is not None and len(labels) != p.size:
            labels = None
        labels = labels or [str(k + 1) for k in range(p.size)]
        self._presetting = True
        try:
            self.n_box.blockSignals(True)
            self.n_box.setValue(p.size)
            self.n_box.blockSignals(False)
            self.p_editor.set_probs(p, labels, emit=False)
            self.q_editor.set_probs(q, labels, emit=False)
        finally:
            self._presetting = False
        self.update()
        return True

    def apply_game(self, name: str) -> None:
        p, q, labels, _ = GAMES[name]
        self.set_pair(p, q, labels, game=name)

    def swap_pq(self) -> None:
        self.set_pair(self.q_editor.probs(), self.p_editor.probs(), self.p_editor.labels())

    # -- drawing --------------------------------------------------------------------------
    def refresh(self) -> None:
        p, q = self.p_editor.probs(), self.q_editor.probs()
        labels = self.p_editor.labels()
        h_p, h_q = entropy(p), entropy(q)
        h_pq, h_qp = cross_entropy(p, q), cross_entropy(q, p)
        kl_pq, kl_qp = kl_divergence(p, q), kl_divergence(q, p)
        tree_q = huffman_tree(q, labels)
        tree_p = huffman_tree(p, labels)
        questions_q = expected_questions(p, tree_lengths(tree_q))
        questions_p = expected_questions(p, tree_lengths(tree_p))
        self.values = {"H(p)": h_p, "H(q)": h_q, "H(p,q)": h_pq, "H(q,p)": h_qp,
                       "KL(p||q)": kl_pq, "KL(q||p)": kl_qp,
                       "questions_q_tree": questions_q, "questions_p_tree": questions_p}

        colours = bar_colours(labels)
        self.p_bars.set_values(p, labels, colours)
        self.q_bars.set_values(q, labels, colours)
        self._draw_measures(h_p, kl_pq, h_q, kl_qp)

        missing = [labels[i] for i in range(p.size) if q[i] == 0 < p[i]]
        missing_back = [labels[i] for i in range(p.size) if p[i] == 0 < q[i]]
        chip = [colour(k).name() for k in (0, 1, 4, 5)]
        lines = [
            f"<span style='color:{chip[0]}'>■</span> H(p) = <b>{fmt(h_p)}</b> bits",
            f"<span style='color:{chip[1]}'>■</span> KL(p‖q) = <b>{fmt(kl_pq)}</b> bits",
            f"&nbsp;&nbsp;&nbsp;H(p,q) = <b>{fmt(h_pq)}</b> bits",
            f"<span style='color:{chip[2]}'>■</span> H(q) = {fmt(h_q)} bits",
            f"<span style='color:{chip[3]}'>■</span> KL(q‖p) = <b>{fmt(kl_qp)}</b> bits",
            f"&nbsp;&nbsp;&nbsp;H(q,p) = {fmt(h_qp)} bits",
        ]
        if math.isfinite(kl_pq) and math.isfinite(kl_qp) and abs(kl_pq - kl_qp) > 5e-4:
            lines.append("<span style='color:#555'>KL(p‖q) ≠ KL(q‖p): not symmetric</span>")
        if missing:
            lines.append(f"<span style='color:#8b0000'>∞: q({', '.join(missing)}) = 0 &lt; p — "
                         "p draws what q calls impossible</span>")
        if missing_back:
            lines.append(f"<span style='color:#8b0000'>KL(q‖p) = ∞: p({', '.join(missing_back)}) "
                         "= 0 &lt; q</span>")
        self.summary.setText("<br>".join(lines))

        self.q_tree.set_tree(tree_q, labels)
        self.p_tree.set_tree(tree_p, labels)
        self.q_tree.getPlotItem().setTitle(
            f"q's tree on p: <b>{fmt(questions_q)}</b> questions", size="9pt")
        self.p_tree.getPlotItem().setTitle(
            f"p's own tree: <b>{fmt(questions_p)}</b> questions", size="9pt")
        compare = ">" if questions_q > questions_p + 1e-9 else "="
        game = f"<b>{self.game}</b> — {GAMES[self.game][3]}<br>" if self.game else ""
        self.game_label.setText(
            f"{game}Coins drawn from p, asked with q's tree: <b>{fmt(questions_q)}</b> questions "
            f"on average {compare} <b>{fmt(questions_p)}</b> with p's own tree "
            f"(H(p,q) = {fmt(h_pq)}, H(p) = {fmt(h_p)} bits).")

    def _draw_measures(self, h_p, kl_pq, h_q, kl_qp) -> None:
        finite = [v for v in (h_p + kl_pq, h_q + kl_qp, h_p, h_q) if math.isfinite(v)]
        top = max(max(finite, default=1.0), 0.5)
        any_inf = not (math.isfinite(kl_pq) and math.isfinite(kl_qp))
        xmax = top * (1.6 if any_inf else 1.05)
        kl_shown = [kl if math.isfinite(kl) else xmax - h for kl, h in ((kl_pq, h_p), (kl_qp, h_q))]
        x0 = [0.0, h_p, 0.0, h_q]
        widths = [h_p, kl_shown[0], h_q, kl_shown[1]]
        ys = [1, 1, 0, 0]
        brushes = [colour(0, 170), colour(1, 200), colour(4, 170), colour(5, 190)]
        self.segments.setOpts(x0=x0, y=ys, width=widths, height=0.6, brushes=brushes)
        names = ["H(p)", "KL(p‖q)", "H(q)", "KL(q‖p)"]
        values = [h_p, kl_pq, h_q, kl_qp]
        for text, x, w, y, name, v in zip(self.segment_texts, x0, widths, ys, names, values, strict=False):
            if w > 0.16 * xmax or math.isinf(v):
                text.setText(f"{name} {fmt(v)}")
            elif w > 0.07 * xmax:
                text.setText(fmt(v, 2))
            else:
                text.setText("")
            text.setPos(x + w / 2, y)
        self.measures.getViewBox().setRange(xRange=(0, xmax), yRange=(-0.5, 1.5), padding=0.02)

    # -- state -----------------------------------------------------------------------------
    def state(self) -> dict:
        return {"p": [float(v) for v in self.p_editor.probs()],
                "q": [float(v) for v in self.q_editor.probs()],
                "labels": self.p_editor.labels(), "game": self.game}

    def restore(self, state: dict) -> None:
        labels = state.get("labels")
        if not (isinstance(labels, list) and all(isinstance(s, str) and len(s) <= 20 for s in labels)):
            labels = None
        game = state.get("game")
        self.set_pair(state.get("p"), state.get("q"), labels,
                      game=game if isinstance(game, str) else None)

    def screenshot(self) -> None:
        self.apply_game("Game 3")
