"""The application as a user starts it: window, settings, export, screenshots, exit codes, CLI."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtGui import QImage

from vigui.run.events import wait
from vigui.window import MainWindow

PY = sys.executable


def run(args, env=None, timeout=120):
    return subprocess.run([PY, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def window(qtbot):
    w = MainWindow(fresh=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()


def test_navigator_lists_existing_chapters_in_lecture_order(window):
    ids = [window.nav.item(i).text() for i in range(window.nav.count())]
    assert any("Mean-field CAVI" in text for text in ids)
    numbers = [text.split(".")[0] for text in ids]
    assert numbers == sorted(numbers, key=lambda n: (int(n.rstrip("ab")), n))
    if "4b" in numbers:  # the Music VAE extends chapter 4; chapters 5 and 6 keep their numbers
        assert "Music VAE" in ids[numbers.index("4b")]


def test_pages_that_extend_a_chapter_take_its_number_and_a_letter():
    from vigui.pages import REGISTRY

    assert [s.chapter for s in REGISTRY if s.page_id in ("vae", "musicvae", "cvae", "bbb")] == \
        ["4", "4b", "5", "6"]


def test_settings_keep_page_and_parameters(qtbot):
    w = MainWindow()
    qtbot.addWidget(w)
    w.open_page("cavi")
    w.pages["cavi"].params.widget("k").setValue(7)
    w.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.current_page().page_id == "cavi"
    assert again.pages["cavi"].param("k") == 7
    again.close()


def test_corrupt_settings_fall_back_to_defaults(qtbot):
    from PySide6.QtCore import QSettings

    s = QSettings()
    s.setValue("pages/cavi", "{not json")
    s.setValue("window/page", "no-such-page")
    s.sync()
    w = MainWindow()
    qtbot.addWidget(w)
    w.open_page("cavi")
    assert w.pages["cavi"].param("k") == 3
    w.close()


def test_export_page_as_png(window, tmp_path):
    window.open_page("cavi")
    wait(300)
    out = window.export_png(str(tmp_path / "page.png"))
    image = QImage(str(out))
    assert image.width() > 400 and image.height() > 300


def test_shortcut_commands_drive_the_current_page(window, qtbot):
    window.open_page("cavi")
    page = window.pages["cavi"]
    qtbot.waitUntil(lambda: page.runner is not None and page.runner.experiment is not None, timeout=5000)
    window._run_command("step_once")
    qtbot.waitUntil(lambda: page.runner.experiment.steps == 1, timeout=3000)


def busy_in_child(flag):
    """Runs in the page's child process: hold it until ``flag`` exists."""
    import os
    import time

    open(flag + ".started", "w").close()
    while not os.path.exists(flag):
        time.sleep(0.01)


@pytest.mark.slow
def test_closing_the_window_never_waits_for_the_training_child(qtbot, tmp_path):
    """The window goes at once, even while the VAE's child process is busy; the child
    then finishes on its own and nothing is left running."""
    import multiprocessing

    w = MainWindow(fresh=True)
    qtbot.addWidget(w)
    w.show()
    w.open_page("vae")
    page = w.pages["vae"]
    page.params.restore({"hidden": [32]}, emit=False)
    page.reset()
    runner = page.runner
    flag = str(tmp_path / "go")
    page.run.call(lambda e: busy_in_child(flag))  # the child is stuck until we say
    qtbot.waitUntil(lambda: os.path.exists(flag + ".started"), timeout=60_000)
    page.play()
    w.close()  # returns although the child cannot end yet
    assert not w.isVisible() and page.runner is None and runner.is_alive
    open(flag, "w").close()
    qtbot.waitUntil(lambda: not runner.is_alive, timeout=20_000)
    assert runner._process.exitcode == 0  # it ended by itself
    qtbot.waitUntil(lambda: not multiprocessing.active_children(), timeout=10_000)
    assert not os.path.exists(f"/proc/{runner.pid}")  # reaped: no zombie


def test_no_display_is_a_clear_error_with_status_2():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([PY, "-m", "vigui"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    assert "xvfb-run" in result.stderr and "QT_QPA_PLATFORM=offscreen" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_screenshot_mode_writes_nonblank_pngs_and_exits_0(tmp_path):
    result = run(["-m", "vigui", "--screenshot", str(tmp_path), "--pages", "cavi"],
                 env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    image = QImage(str(tmp_path / "cavi.png"))
    assert image.width() == 1280 and image.height() == 800
    # Not a blank window: many distinct colours (points, curves, text).
    ptr = image.convertToFormat(QImage.Format_RGB32).constBits()
    pixels = np.frombuffer(ptr, dtype=np.uint32, count=image.width() * image.height())
    assert len(np.unique(pixels)) > 200


@pytest.mark.parametrize("wait", ["-1", "nan", "soon"])
def test_a_bad_screenshot_wait_is_one_line_and_status_2(tmp_path, wait):
    result = run(["-m", "vigui", "--screenshot", str(tmp_path), "--wait", wait],
                 env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 2 and "--wait" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


def test_start_and_close_mid_run_20_times_exits_0():
    script = (
        "import sys\n"
        "from vigui.app import main\n"
        "for i in range(20):\n"
        "    code = main(['--page', 'cavi', '--run', '--quit-after', '0.3'])\n"
        "    assert code == 0, code\n"
        "print('closed cleanly')\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"]}
    result = run(["-c", script], env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "closed cleanly" in result.stdout
    assert "Traceback" not in result.stderr and "QThread" not in result.stderr


def test_separate_processes_start_and_close_mid_run():
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"]}
    for _ in range(3):
        result = run(["-m", "vigui", "--page", "cavi", "--run", "--quit-after", "0.5"], env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr


def test_the_program_ends_once_its_window_closes_without_the_interpreters_teardown(tmp_path):
    """`vigui` closed mid-run: settings saved, atexit handlers run (multiprocessing ends the
    children), status 0, and the interpreter's teardown of every torch/Qt object (1.5-2 s
    after the window had gone; bench/close.py) is skipped: an object that only that
    teardown deletes is never deleted."""
    script = (
        "import atexit, sys\n"
        "class Mark:\n"
        "    def __del__(self):\n"
        "        print('torn down', flush=True)\n"
        "mark = Mark()  # deleted only by the interpreter's teardown\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "sys.argv = ['vigui', '--page', 'cavi', '--run', '--quit-after', '0.5']\n"
        "from vigui.app import main\n"
        "raise SystemExit(main())\n"
    )
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    result = run(["-c", script], env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "atexit ran" in result.stdout and "torn down" not in result.stdout
    assert "Traceback" not in result.stderr
    settings = (tmp_path / "vigui" / "vigui.conf").read_text()
    assert "page=cavi" in settings  # the window saved its state first


@pytest.mark.slow
def test_close_mid_training_on_the_vae_page_exits_0():
    env = {"QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"]}
    for _ in range(3):
        result = run(["-m", "vigui", "--page", "vae", "--run", "--quit-after", "2.5"], env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and "QThread" not in result.stderr


def test_unknown_page_is_a_clear_error():
    result = run(["-m", "vigui", "--page", "nope"], env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 2 and "unknown page" in result.stderr


def test_cli_cavi_json():
    result = run(["-m", "engine", "cavi", "--n", "1000", "--k", "3", "--sigma2", "10", "--dim", "1",
                  "--seed", "0", "--json"])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)  # stdout is exactly one JSON object
    assert out["converged"] and out["sweeps"] == len(out["elbo_history"])
    assert np.all(np.diff(out["elbo_history"]) >= -1e-9 * abs(out["elbo"]))
    assert out["elbo"] == pytest.approx(out["elbo_history"][-1])
    assert len(out["m"]) == 3 and len(out["s2"]) == 3 and out["steps_per_s"] > 0
    assert "cavi" in result.stderr  # progress went to stderr


def test_cli_rejects_bad_arguments_with_status_2():
    result = run(["-m", "engine", "cavi", "--k", "0"])
    assert result.returncode == 2 and "K must be between 1 and 10" in result.stderr


@pytest.mark.slow
def test_cli_vae_json_and_checkpoint(tmp_path):
    out = tmp_path / "model.pt"
    result = run(["-m", "engine", "vae", "--dataset", "digits", "--latent", "2", "--epochs", "2",
                  "--seed", "0", "--threads", "1", "--iw-k", "10", "--json", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    test = report["test"]
    assert report["samples_per_s"] > 0 and report["steps"] == 2 * 12
    assert test["neg_elbo"] == pytest.approx(test["recon"] + test["kl"], rel=1e-6)
    assert test["nll_iw"] <= test["neg_elbo"] + 1e-6
    from engine.vae.model import VAEExperiment
    exp = VAEExperiment.load(out)
    assert exp.steps == 24 and exp.config.latent == 2


def test_cli_vae_missing_dataset_is_clear(tmp_path):
    result = run(["-m", "engine", "vae", "--dataset", "kmnist", "--epochs", "1"],
                 env={"VIGUI_DATA_DIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "--download" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not __import__("shutil").which("xvfb-run"),
                    reason="xvfb-run not installed (apt-get install xvfb xauth)")
def test_real_window_under_xvfb(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    result = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", PY, "-m", "vigui",
                             "--screenshot", str(tmp_path), "--pages", "cavi"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    image = QImage(str(tmp_path / "cavi.png"))
    assert image.width() == 1280 and image.height() == 800
