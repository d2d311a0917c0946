#!/bin/bash
# The first-hour look (issue 17) in a real X window: vigui started as a person starts it,
# every chapter opened from the navigator with the keyboard, at 1920x1080 and 1280x800,
# at normal size and after Ctrl+plus three times; one screenshot per page.
#
#   scripts/first_hour_walk.sh OUT_DIR    # needs xvfb-run, xdotool, imagemagick; SIZES="1920x1080"
#   python scripts/contact_sheet.py OUT_DIR/1920-zoom3 docs/firsthour-1920-zoomed-contact-sheet.png
set -u
OUT=$(realpath -m "${1:?usage: $0 OUT_DIR}")
PY=${PY:-python}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"

if [ "${2:-}" != "--inside" ]; then
  for size in ${SIZES:-1920x1080 1280x800}; do
    xvfb-run -a -s "-screen 0 ${size}x24" "$0" "$OUT" --inside "$size"
  done
  exit 0
fi

SIZE=$3; W=${SIZE%x*}; H=${SIZE#*x}
cd "$ROOT"
export XDG_CONFIG_HOME=$(mktemp -d)   # a first start: no remembered page, zoom or geometry
PYTHONPATH=$ROOT $PY -m vigui > "$OUT/app-$W.log" 2>&1 &
APP=$!
WID=$(xdotool search --sync --onlyvisible --name "vigui" | head -1)
sleep 8
xdotool windowmove "$WID" 0 0 windowsize "$WID" "$W" "$H"
sleep 2
PAGES=$($PY -c 'from vigui.pages import available; print(len(available()))')
for zoom in 1 3; do
  xdotool mousemove 40 34 click 1; sleep 2      # the navigator's first row: keys go there
  if [ $zoom = 3 ]; then
    for _ in 1 2 3; do xdotool key ctrl+equal; sleep 2; done   # Ctrl+= is Ctrl++ unshifted
  fi
  dir="$OUT/$W-zoom$zoom"; mkdir -p "$dir"
  xdotool key Home; sleep 8
  for p in $(seq 1 "$PAGES"); do
    # a chapter builds (the first visit to a torch page imports torch: slow), then draws
    [ "$p" -gt 1 ] && { xdotool key Down; sleep "${WALK_WAIT:-15}"; }
    [ "$zoom" = 1 ] && [ "$p" = 4 ] && sleep 15
    import -window root "$dir/page$p.png"
  done
done
xdotool key ctrl+q
for _ in $(seq 1 30); do kill -0 $APP 2>/dev/null || break; sleep 1; done
kill $APP 2>/dev/null && echo "vigui did not quit within 30 s of Ctrl+Q" >> "$OUT/app-$W.log"
wait $APP; echo "exit status $?" >> "$OUT/app-$W.log"
