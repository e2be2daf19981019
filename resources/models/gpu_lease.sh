#!/usr/bin/env bash
# Train, export and benchmark the 14×14-grid bundled models in ONE GPU lease (one command of at
# most 10 minutes on an H200 with 16 cores). Three ways to call it, from the repository root:
#
#   resources/models/gpu_lease.sh --prepare    # here, once: training images, lease shard, held-out photos, wheels
#   resources/models/gpu_lease.sh --dry-run    # here, on the CPU: the whole pipeline at 1 step a run
#   # then, with the device tool (the machine has python3 with CUDA torch, timm, safetensors,
#   # Pillow, numpy and OpenCV; nothing can be downloaded there):
#   #   run(command="bash resources/models/gpu_lease.sh", carry=[".leasedata", ".heldout", ".whl"],
#   #       timeout_s=600)
#
# The lease trains on .leasedata, a compact copy of .traindata's photos and textures (abstract art
# left out) made by --prepare: the device tool carries at most 64 MiB with the working tree, so the
# shard gets what the tree, .heldout and .whl leave (CARRY_MIB less MARGIN_MIB), at the largest
# shorter side and JPEG quality of training_data.SHARD_LADDER that fits.
#
# What comes back in $OUT (at most 8 files of 16 MiB, none in sub-folders):
#   lease.log       everything the run printed (the probe, each run's command, the choice, the table)
#   quality.md      bench_quality --cv2 on the held-out photos: models, baselines, paired differences,
#                   goal (its numbers per crop are quality.json, inside bundle.tar.*)
#   choice.json     each geometry's margin over the best non-learned fill and its CPU milliseconds
#   bundle.tar.*    the two exported models and every run's metrics.jsonl / train.log, split into
#                   15 MB parts: cat bundle.tar.* | tar -x -C DEST   (then see resources/models/README.md)
# Steps and times are in resources/models/train_bundled.py; the lease budget is --budget-minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
MODE=${1:-lease}
PYTHON=${PYTHON:-python3}
# train_bundled.py's budget (probe, runs, export); the benchmark follows, cut at LIMIT_SECONDS
# so that the models are packed before the device tool's 600 s limit.
BUDGET_MINUTES=${BUDGET_MINUTES:-8.0}
LIMIT_SECONDS=${LIMIT_SECONDS:-580}
CARRY_MIB=64
MARGIN_MIB=${MARGIN_MIB:-2}

mib() {  # size of the tracked working tree, or of the named folders, in MiB (rounded up)
    local bytes
    if [[ $1 == --tree ]]; then
        bytes=$(git ls-files -z | du -cb --files0-from=- | tail -n 1 | cut -f1)
    else
        bytes=$(du -cb "$@" | tail -n 1 | cut -f1)
    fi
    echo $(((bytes + 1048575) / 1048576))
}

prepare() {
    # TRAIN_SRC: get_training_data.sh's download cache (default ~/.cache/maskviz-train-src)
    PYTHON=${PYTHON} resources/models/get_training_data.sh .traindata ${TRAIN_SRC:+"$TRAIN_SRC"}
    "$PYTHON" resources/models/heldout_photos.py .heldout ${TRAIN_SRC:+--work "$TRAIN_SRC"}
    # The device's python3 lacks platformdirs (pure Python), which maskviz.paths imports.
    mkdir -p .whl
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d .whl "platformdirs>=3"
    local tree rest budget
    tree=$(mib --tree)
    rest=$(mib .heldout .whl)
    budget=$((CARRY_MIB - MARGIN_MIB - tree - rest))
    echo "carry budget: $CARRY_MIB MiB - tree $tree - .heldout/.whl $rest - margin $MARGIN_MIB = $budget MiB for .leasedata"
    "$PYTHON" resources/models/training_data.py shard .traindata .leasedata --budget-mib "$budget"
    du -sh .leasedata .heldout .whl
    echo "ready: carry .leasedata .heldout .whl ($((tree + rest + $(mib .leasedata))) of $CARRY_MIB MiB with the working tree)"
}

setup_device_python() {
    # maskviz runs from the checkout (not installed), so maskviz.resources must be findable.
    "$PYTHON" -c "import maskviz.resources" 2>/dev/null || ln -sfn ../resources maskviz/resources
    if ! "$PYTHON" -c "import platformdirs" 2>/dev/null; then
        compgen -G ".whl/*.whl" >/dev/null || { echo "no platformdirs: run --prepare here and carry .whl" >&2; exit 1; }
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    for need in .leasedata .heldout; do
        [[ -d $need ]] || { echo "$need missing: run '$0 --prepare' here and carry it" >&2; exit 1; }
    done
}

pack() {  # $1: work folder, $2: export folder
    local work=$1 export=$2
    mkdir -p "$work" "$export"
    cp "$work/quality.md" "$work/choice.json" "$OUT/" 2>/dev/null || true
    rm -f "$OUT"/bundle.tar.*
    # Run checkpoints stay behind (the exports are the best of them); logs and metrics travel.
    tar -cf - --exclude=checkpoints --exclude=short-best --exclude=dry-run-data -C "$work" . -C "$export" . \
        | split -b 15000000 -d - "$OUT/bundle.tar."
    ls -la "$OUT"
}

train_pack_bench() {  # $1: work folder, $2: export folder, then train_bundled.py's options
    # Packed right after the export, then again after the benchmark: a lease cut short during the
    # benchmark still brings the models back.
    local work=$1 export=$2 status=0
    shift 2
    "$PYTHON" resources/models/train_bundled.py --data .leasedata --work "$work" --export "$export" --no-bench \
        --quiet "$@" 2>&1 | tee -a "$OUT/lease.log" || status=$?
    pack "$work" "$export"
    [[ $status == 0 ]] || return "$status"
    local models=() photos=() f
    for f in "$export"/*.safetensors; do models+=(--model "$f"); done
    [[ -d .heldout ]] && photos=(--photos .heldout)
    timeout $((LIMIT_SECONDS - SECONDS)) "$PYTHON" bench/bench_quality.py "${models[@]}" "${photos[@]}" --cv2 --crops "$CROPS" --threads "$THREADS" \
        --json "$work/quality.json" "${BENCH_EXTRA[@]}" 2>>"$OUT/lease.log" | tee "$work/quality.md" \
        | tee -a "$OUT/lease.log" || status=$?
    pack "$work" "$export"
    return "$status"
}

case $MODE in
    --prepare)
        prepare
        ;;
    --dry-run)
        OUT=${OUT:-$(mktemp -d)}
        WORK=$(mktemp -d)
        [[ -d .leasedata ]] || { echo ".leasedata missing: run '$0 --prepare' first" >&2; exit 1; }
        PHOTOS=(); [[ -d .heldout ]] && PHOTOS=(--photos .heldout)
        CROPS=1 THREADS=1 BENCH_EXTRA=(--baselines harmonic) LIMIT_SECONDS=100000
        renice -n 10 $$ >/dev/null  # a shared CPU: everything below runs niced
        : >"$OUT/lease.log"
        status=0
        train_pack_bench "$WORK/runs" "$WORK/export" --dry-run "${PHOTOS[@]}" || status=$?
        echo "dry run (exit $status): results in $OUT"
        exit "$status"
        ;;
    lease)
        : "${OUT:?OUT is not set: on the GPU machine the device tool sets it}"
        setup_device_python
        nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/lease.log" || true
        WORK=/tmp/bundle
        CROPS=8 THREADS=12 BENCH_EXTRA=()
        train_pack_bench "$WORK/runs" "$WORK/export" --photos .heldout --budget-minutes "$BUDGET_MINUTES"
        ;;
    *)
        echo "usage: $0 [--prepare | --dry-run]   (no argument: the GPU lease itself)" >&2
        exit 2
        ;;
esac
