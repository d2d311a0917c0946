#!/usr/bin/env bash
# The installed app is whole: build the wheel, install it (not editable) into a fresh venv
# that borrows the project venv's dependencies, run `vigui --screenshot` for every page
# from outside the source tree, and check that every theory panel found its text. Each page is
# shot after at most 5 s (`--wait 5`): this checks that the installed pages open with their
# resources; tests/vigui/test_app.py checks the screenshot states themselves.
# Usage: bash .ci/wheel_check.sh [PYTHON]   (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
py=$(cd "$(dirname "${1:-.venv/bin/python}")" && pwd)/$(basename "${1:-.venv/bin/python}")  # absolute, links kept: a venv's python is a link
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The wheel, built with the project venv's setuptools when it is recent enough (no download).
if "$py" -c 'import setuptools, sys; sys.exit(int(setuptools.__version__.split(".")[0]) < 77)' 2>/dev/null; then
    isolation=--no-build-isolation
else
    isolation=
fi
"$py" -m pip wheel --quiet --no-deps $isolation -w "$work/dist" . >/dev/null
rm -rf build ./*.egg-info  # the build's leftovers in the checkout
wheel=$(ls "$work"/dist/vigui-*.whl)
# The listing is read whole before it is searched: `unzip | grep -q` under pipefail fails at random
# (grep stops at the first match, unzip dies of SIGPIPE, and the pipeline reports 141).
listing=$(unzip -Z1 "$wheel")
grep -q "^vigui/resources/theory/" <<<"$listing" || { echo "wheel-check: no vigui/resources/theory in $wheel"; exit 1; }

# A fresh venv without pip; the project venv's packages reached by a plain path line (its
# editable install of vigui is not activated that way, so only the wheel's vigui exists).
"$py" -m venv --without-pip "$work/venv"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
"$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > "$site/project-deps.pth"
"$py" -m pip --python "$work/venv/bin/python" install --quiet --no-deps "$wheel" >/dev/null

cd "$work"  # nothing of the checkout on the path from here on
unset PYTHONPATH
export QT_QPA_PLATFORM=offscreen XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache"
"$work/venv/bin/python" - "$repo" <<'PY'
import sys
from pathlib import Path
import vigui
where = Path(vigui.__file__).resolve()
assert Path(sys.argv[1]).resolve() not in where.parents, f"vigui imported from the checkout: {where}"
print(f"wheel-check: vigui from {where.parent}")
PY
if ! "$work/venv/bin/vigui" --screenshot "$work/shots" --wait 5 > "$work/out.txt" 2>&1; then
    cat "$work/out.txt"; echo "wheel-check: vigui --screenshot failed"; exit 1
fi
if grep -i -E "theory|not found|Traceback" "$work/out.txt"; then
    echo "wheel-check: vigui --screenshot reported the problems above"; exit 1
fi
"$work/venv/bin/python" - "$work/shots" <<'PY'
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from vigui.pages import available
from vigui.theory.view import TheoryView

app = QApplication([])
shots = Path(sys.argv[1])
bad = []
for spec in available():
    if not (shots / f"{spec.page_id}.png").is_file():
        bad.append(f"{spec.page_id}: no screenshot")
    name = spec.load().theory or spec.page_id
    view = TheoryView(name)
    view.resize(300, 800)
    view.show()
    app.processEvents()
    text = view.toPlainText()
    images = view.toHtml().count('src="math:')
    if view.problems or "not found" in text or len(text) < 200 or images < 5:
        bad.append(f"{spec.page_id}: theory {name!r}: {view.problems or 'no text or no formulas'}")
    print(f"wheel-check: {spec.page_id}: screenshot; theory {len(text):,} characters, {images} formulas")
if bad:
    sys.exit("wheel-check: " + "; ".join(bad))
PY
echo "wheel-check: ok"
