"""Recordings hold the page only: on a real X server (Xvfb) the screen's pixels would
show the Record dialog and other vigui windows over the page; they must not."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("record_on_x11.py")


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb-run (Xvfb)")
def test_a_recording_never_shows_the_dialog_or_other_windows(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    proc = subprocess.run(["xvfb-run", "-a", sys.executable, str(SCRIPT), str(tmp_path / "rec")],
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["platform"] == "xcb" and result["dialog_over_page"]
    assert result["stepped_aside"] and result["came_back"]  # Stop in the status bar, then back
    assert result["frames"] >= 15
    assert result["magenta"] == 0
