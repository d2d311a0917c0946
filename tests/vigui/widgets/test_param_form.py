"""The parameter form: widgets from declarations, ranges enforced, values and configs,
quiet programmatic edits, save/restore with corrupt values falling back to defaults."""
import json
import math
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QGroupBox, QLabel, QSpinBox

from engine.core.params import Config, Param, param
from vigui.widgets.inputs import LogSpinBox, OptionalSpinBox, SizesEdit
from vigui.widgets.param_form import ParamForm

pytestmark = pytest.mark.gui


@dataclass(frozen=True)
class Demo(Config):
    latent: int = param(2, lo=2, hi=64, label="Latent dims", help="size of z")
    lr: float = param(1e-3, lo=1e-6, hi=10.0, log=True, label="Learning rate")
    beta: float = param(1.0, lo=0.0, hi=100.0, decimals=2, step=0.25)
    likelihood: str = param("bernoulli", choices=("bernoulli", "gaussian"),
                            choice_labels=("Bernoulli", "Gaussian"))
    hidden: tuple[int, ...] = param((400,), lo=8, hi=4096, length=(1, 4))
    epochs: int | None = param(None, lo=1, hi=1000, optional=True, help="None: until stopped")
    learn: bool = param(False)
    name: str = param("run")
    hidden_field: int = param(5, lo=0, hi=10, gui=False)
    internal: int = 7


SEED = Param(name="seed", kind="int", default=0, lo=0, hi=1_000_000, label="Seed")


@pytest.fixture
def form(qtbot):
    f = ParamForm(Demo, extra=[SEED])
    qtbot.addWidget(f)
    changes = []
    f.changed.connect(changes.append)
    f.changes = changes
    return f


def test_widgets_follow_the_declarations(form):
    kinds = {name: type(form.widget(name)) for name in form.fields}
    assert kinds == {"latent": QSpinBox, "lr": LogSpinBox, "beta": QDoubleSpinBox,
                     "likelihood": QComboBox, "hidden": SizesEdit, "epochs": OptionalSpinBox,
                     "learn": QCheckBox, "name": type(form.widget("name")), "seed": QSpinBox}
    assert "hidden_field" not in form.fields and "internal" not in form.fields
    assert form.widget("latent").minimum() == 2 and form.widget("latent").maximum() == 64
    assert [form.widget("likelihood").itemText(i) for i in range(2)] == ["Bernoulli", "Gaussian"]
    assert form.widget("beta").decimals() == 2 and form.widget("beta").singleStep() == 0.25
    assert "size of z" in form.widget("latent").toolTip() and "2 to 64" in form.widget("latent").toolTip()
    labels = [w.text() for w in form.findChildren(QLabel)]
    assert "Latent dims" in labels and "Learning rate" in labels and "Seed" in labels
    assert form.widget("epochs").text() == "until stopped"  # None, from the help


def test_values_and_config_are_the_defaults(form):
    assert form.values() == {"latent": 2, "lr": 1e-3, "beta": 1.0, "likelihood": "bernoulli",
                             "hidden": (400,), "epochs": None, "learn": False, "name": "run",
                             "seed": 0}
    cfg = form.config()
    assert cfg == Demo() and cfg.hidden_field == 5
    assert form.config(hidden_field=9).hidden_field == 9
    with pytest.raises(ValueError, match="hidden_field must be between"):
        form.config(hidden_field=99)


def test_widgets_cannot_hold_out_of_range_values(form, qtbot):
    form.widget("latent").setValue(999)
    form.widget("beta").setValue(-3.0)
    form.widget("lr").setValue(1e9)
    form.widget("epochs").setValue(-50)
    assert form.value("latent") == 64 and form.value("beta") == 0.0
    assert form.value("lr") == 10.0 and form.value("epochs") is None
    # Typing: the log box and the sizes edit refuse out-of-range text.
    box = form.widget("lr")
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), "50")
    qtbot.keyClick(box.lineEdit(), Qt.Key_Return)
    assert form.value("lr") == 10.0
    edit = form.widget("hidden")
    edit.selectAll()
    qtbot.keyClicks(edit, "5000")  # 4 digits are allowed while typing, 5000 is not a size
    qtbot.keyClick(edit, Qt.Key_Return)
    assert form.value("hidden") == (400,)
    edit.clearFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "12345")  # a fifth digit is refused outright
    assert "12345" not in edit.text()
    edit.setText("")
    qtbot.keyClicks(edit, "64,32")
    qtbot.keyClick(edit, Qt.Key_Return)
    assert form.value("hidden") == (64, 32)
    assert form.config().hidden == (64, 32)
    for bad in ("5000", "4", "1,2,3,4,5", "abc", "", [8, 8.5]):
        with pytest.raises(ValueError):
            form.widget("hidden").setValue(bad)
    assert form.value("hidden") == (64, 32)


def test_changed_comes_from_edits_not_from_quiet_updates(form):
    form.widget("latent").setValue(4)
    assert form.changes == ["latent"]
    form.set_values({"latent": 8, "lr": 0.01, "hidden": [32, 16], "not_a_field": 1})
    assert form.changes == ["latent"]  # quiet by default
    assert (form.value("latent"), form.value("lr"), form.value("hidden")) == (8, 0.01, (32, 16))
    form.set_values({"beta": 2.0, "learn": True}, emit=True)
    assert form.changes == ["latent", ""]  # one signal for several
    with pytest.raises(ValueError, match="latent must be between"):
        form.set_values({"latent": 1000})
    form.set_value("likelihood", "gaussian")
    assert form.changes[-1] == "likelihood"
    with pytest.raises(ValueError, match="likelihood must be one of"):
        form.set_value("likelihood", "poisson")


def test_state_round_trips_through_json(form, qtbot):
    form.set_values({"latent": 8, "lr": 3e-4, "beta": 0.5, "likelihood": "gaussian",
                     "hidden": (64, 32), "epochs": 12, "learn": True, "name": "x", "seed": 42})
    state = json.loads(json.dumps(form.state()))
    other = ParamForm(Demo, extra=[SEED])
    qtbot.addWidget(other)
    assert other.restore(state) == []
    assert other.values() == form.values()


@pytest.mark.parametrize("field, bad", [
    ("latent", "abc"), ("latent", 1e9), ("latent", 2.5), ("latent", None), ("lr", math.inf),
    ("lr", -1.0), ("beta", "nan"), ("likelihood", "poisson"), ("likelihood", 3),
    ("hidden", "12,abc"), ("hidden", [1] * 9), ("hidden", {"a": 1}), ("epochs", 0),
    ("learn", "yes"), ("seed", -1), ("name", ""),
])
def test_corrupt_saved_values_fall_back_to_defaults(form, field, bad):
    form.set_values({"latent": 8, "lr": 0.01, "beta": 3.0, "likelihood": "gaussian",
                     "hidden": (32,), "epochs": 5, "learn": True, "name": "y", "seed": 9})
    before = form.values()
    assert form.restore({field: bad, "latent": 16 if field != "latent" else bad}) == (
        [field] if field == "latent" else [field])
    after = form.values()
    assert after[field] == form.param(field).default
    for name in after:
        if name not in (field, "latent"):
            assert after[name] == before[name]
    if field != "latent":
        assert after["latent"] == 16  # the good values in the same state are taken


def test_save_and_load_through_qsettings(form, qtbot):
    settings = QSettings()
    form.set_values({"latent": 12, "hidden": (128, 64)})
    form.save(settings, "pages/demo/params")
    other = ParamForm(Demo, extra=[SEED])
    qtbot.addWidget(other)
    other.load(settings, "pages/demo/params")
    assert other.value("latent") == 12 and other.value("hidden") == (128, 64)
    settings.setValue("pages/demo/params", "{not json")
    fresh = ParamForm(Demo, extra=[SEED])
    qtbot.addWidget(fresh)
    fresh.load(settings, "pages/demo/params")
    assert fresh.values()["latent"] == 2


def test_fields_order_groups_overrides_and_rows(qtbot):
    from PySide6.QtWidgets import QPushButton

    f = ParamForm(Demo, ["lr", ("Model", ["latent", "hidden"]), "seed"], extra=[SEED],
                  overrides={"likelihood": {"choices": ("gaussian",)},
                             "latent": {"default": 4, "label": "z size"}},
                  styles={"beta": "slider"})
    qtbot.addWidget(f)
    assert list(f.fields) == ["lr", "latent", "hidden", "seed"]
    assert [g.title() for g in f.findChildren(QGroupBox)] == ["Model"]
    assert f.value("latent") == 4 and f.config().latent == 4 and f.config().beta == 1.0
    button = QPushButton("New data")
    f.add_row(button, after="latent")
    assert button.parent() is not None
    slider = ParamForm(Demo, ["beta"], styles={"beta": "slider"})
    qtbot.addWidget(slider)
    slider.widget("beta").setValue(250.0)
    assert slider.value("beta") == 100.0


def test_check_showable_rejects_what_the_widgets_cannot_show_and_changes_nothing(form):
    before = form.values()
    form.check_showable("likelihood", "gaussian")
    form.check_showable("beta", 2.5)
    with pytest.raises(ValueError):
        form.check_showable("likelihood", "poisson")  # the combo does not offer it
    with pytest.raises(ValueError):
        form.check_showable("beta", math.inf)
    with pytest.raises(KeyError):
        form.check_showable("internal", 7)  # not a field of the form
    assert form.values() == before and form.changes == []
