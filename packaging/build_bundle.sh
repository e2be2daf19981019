#!/usr/bin/env bash
# Build the one-folder desktop bundle (PyInstaller, CPU torch) and smoke-test it under Xvfb:
# the window must appear and `maskviz reconstruct` must run from the bundle.
#
#   packaging/build_bundle.sh                # bundle in build/bundle/maskviz/, report size and time
#
# The bundle is built from its own virtual environment (build/bundle-venv) with PyTorch's CPU
# wheels, so it carries no CUDA libraries. TORCH_INSTALL overrides how torch is installed there,
# e.g. TORCH_INSTALL="torch==2.13.0+cpu torchvision==0.28.0+cpu" where the wheels lie on local disk.
# torchvision must come from the same index as torch: PyPI's (CUDA) torchvision does not import
# with a CPU torch ("operator torchvision::nms does not exist"), and timm needs torchvision.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(realpath -m "${VENV:-build/bundle-venv}")
TORCH_INSTALL=${TORCH_INSTALL:-"torch torchvision --index-url https://download.pytorch.org/whl/cpu"}
DIST=build/bundle
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # TORCH_INSTALL is a list of pip arguments
  "$VENV/bin/python" -m pip install -q $TORCH_INSTALL
fi
"$VENV/bin/python" -m pip install -q . pyinstaller
# A CPU torch keeps the bundle small; ALLOW_CUDA_TORCH=1 bundles whatever torch the venv has.
[ "${ALLOW_CUDA_TORCH:-0}" = 1 ] || \
  "$VENV/bin/python" -c "import torch; assert torch.version.cuda is None, 'the bundle venv has a CUDA torch'"
"$VENV/bin/python" -c "import timm" || { echo "timm does not import in $VENV (torchvision must match torch)"; exit 1; }
"$VENV/bin/python" packaging/make_icons.py
(cd packaging/pyinstaller && "$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$OLDPWD/$DIST" --workpath "$OLDPWD/build/pyinstaller" maskviz.spec)
APP="$DIST/maskviz/maskviz"
built=$(date +%s)
echo "built $APP in $((built - start)) s; bundle size $(du -sh "$DIST/maskviz" | cut -f1)"

# Smoke test 1: the window appears under Xvfb (a fresh config folder: bundled model, sample photo).
smoke=$(mktemp -d)
trap 'kill "$app_pid" "$xvfb_pid" 2>/dev/null || true; rm -rf "$smoke"' EXIT
display=:$((90 + RANDOM % 100))
Xvfb "$display" -screen 0 1400x900x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
sleep 1
DISPLAY=$display MASKVIZ_CONFIG_DIR=$smoke "$APP" --reset-session >"$smoke/app.log" 2>&1 &
app_pid=$!
# The main window's title names the open image ("... coffee ..."): an error dialog titled
# "maskviz" or the start-up window do not count.
for _ in $(seq 480); do
  DISPLAY=$display xdotool search --onlyvisible --name 'coffee' >/dev/null 2>&1 && break
  kill -0 "$app_pid" 2>/dev/null || { cat "$smoke/app.log"; echo "the bundled app exited"; exit 1; }
  sleep 0.5
done
if ! DISPLAY=$display xdotool search --onlyvisible --name 'coffee' >/dev/null; then
  # An import or start-up error shows a dialog and is logged: print what the app said.
  cat "$smoke/app.log" "$smoke/maskviz.log" 2>/dev/null || true
  echo "no main window"; exit 1
fi
sleep 3  # let the first reconstruction arrive before the screenshot
DISPLAY=$display import -window root build/bundle-window.png
echo "window up $(( $(date +%s) - built )) s after launch; screenshot build/bundle-window.png"
kill "$app_pid"; wait "$app_pid" 2>/dev/null || true

# Smoke test 2: the CLI from the bundle.
"$APP" --version
"$APP" reconstruct sample:coffee --out "$smoke/panel.png" --json "$smoke/metrics.json"
test -s "$smoke/panel.png" && grep -q '"psnr"' "$smoke/metrics.json"
echo "bundle OK: $(du -sh "$DIST/maskviz" | cut -f1), built in $((built - start)) s"
