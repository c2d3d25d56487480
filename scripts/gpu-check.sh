#!/usr/bin/env bash
# The GPU check, one command on a machine with an NVIDIA GPU, Rust and this repository:
#
#   scripts/gpu-check.sh [OUT_DIR]          (default: gpu-check/)
#
# 1. builds the `star` binary with `--features cuda` (through scripts/cuda-offline.sh, so no
#    internet access is needed at build time);
# 2. runs the CubeCL top-k kernel tests and the top-k benchmark on the GPU;
# 3. runs the whole pipeline (`star run`: BPR-MF, LightGCN, SASRec, teacher, SFT, GRPO,
#    evaluation) on MovieLens-100K with at most STAR_GPU_CHECK_EPOCHS epochs per model
#    (default 3), once with `--device cuda` and once with `--device flex` (the CPU), each in a
#    fresh run directory;
# 4. on a machine with two GPUs or more, trains SASRec on cuda:0 and then on cuda:0,cuda:1
#    (`--devices`, burn-train's multi-device strategy);
# 5. writes OUT_DIR/table.md: each stage's wall seconds on the GPU and on the CPU, and both
#    runs' test avg-HR per method (the GPU's numbers are not expected to equal the CPU's bit for
#    bit: the reductions run in another order).
#
# MovieLens-100K is read from $STAR_HOME (default ~/.cache/star); on a machine without internet
# access, copy `$STAR_HOME/datasets/movielens-100k` there first, or set STAR_GPU_CHECK_DATA to a
# directory holding the dataset (passed as --data). Every log goes to OUT_DIR.
set -euo pipefail

cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
epochs="${STAR_GPU_CHECK_EPOCHS:-3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
data=()
[ -z "${STAR_GPU_CHECK_DATA:-}" ] || data=(--data "$STAR_GPU_CHECK_DATA")

say() { printf '\n== %s\n' "$*" | tee -a "$out/check.log"; }

say "the GPU"
nvidia-smi 2>&1 | tee "$out/nvidia-smi.txt" || {
    echo "gpu-check: nvidia-smi failed: no NVIDIA driver here" >&2
    exit 1
}

say "build (--features cuda)"
scripts/cuda-offline.sh cargo build --release --features cuda --bin star 2>&1 | tee "$out/build.log"
star="${CARGO_TARGET_DIR:-target}/release/star"

say "top-k kernels against the reference, on the GPU"
scripts/cuda-offline.sh cargo test --release -p star-model --features cuda --test topk 2>&1 \
    | tee "$out/topk-test.log"

say "top-k benchmark (CPU and GPU rows)"
scripts/cuda-offline.sh cargo bench -p star-model --features cuda --bench topk 2>&1 \
    | tee "$out/topk-bench.log"

for device in cuda flex; do
    say "star run --device $device --epochs $epochs"
    rm -rf "$out/run-$device"
    "$star" run --device "$device" --epochs "$epochs" --run-dir "$out/run-$device" "${data[@]}" \
        2>&1 | tee "$out/run-$device.log"
done

# --devices: burn-train's multi-device strategy, where the machine has two GPUs
gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)"
if [ "${gpus:-0}" -ge 2 ]; then
    for devices in cuda:0 cuda:0,cuda:1; do
        say "star train sasrec --devices $devices --epochs $epochs"
        rm -rf "$out/sasrec-$devices"
        "$star" train sasrec --devices "$devices" --epochs "$epochs" \
            --run-dir "$out/sasrec-$devices" "${data[@]}" 2>&1 | tee "$out/sasrec-$devices.log"
    done
fi

say "table"
python3 - "$out" <<'EOF' | tee "$out/table.md"
import json, re, sys
out = sys.argv[1]

def stages(device):
    for line in open(f"{out}/run-{device}.log"):
        if line.startswith("stages: "):
            body = line[len("stages: "):].strip()
            return dict(
                (m.group(1), float(m.group(2)))
                for m in re.finditer(r"([^,;]+?) ([0-9.]+)s", body)
            )
    sys.exit(f"run-{device}.log has no stages line: the run failed")

def avg_hr(device):
    report = json.load(open(f"{out}/run-{device}/report.json"))
    return {name: m["metrics"]["avg_HR"] for name, m in report["methods"].items()}

gpu, cpu = stages("cuda"), stages("flex")
print("| stage | GPU (cuda) s | CPU (flex) s | CPU / GPU |")
print("|---|---:|---:|---:|")
for name in cpu:
    g, c = gpu.get(name), cpu[name]
    ratio = f"{c / g:.2f}×" if g else "–"
    print(f"| {name.strip()} | {g if g is not None else '–'} | {c} | {ratio} |")
print()
g, c = avg_hr("cuda"), avg_hr("flex")
print("| method | test avg-HR, GPU | test avg-HR, CPU |")
print("|---|---:|---:|")
for name in c:
    print(f"| {name} | {100 * g.get(name, float('nan')):.2f} | {100 * c[name]:.2f} |")
EOF
{
    echo
    if [ "${gpus:-0}" -ge 2 ]; then
        echo "SASRec on one GPU, then on two (\`star train sasrec --devices\`):"
        echo
        for devices in cuda:0 cuda:0,cuda:1; do
            grep -h '^SASRec:' "$out/sasrec-$devices.log" | sed 's/^/    /'
        done
    else
        echo "One GPU here: multi-device training (--devices) was not checked on GPUs."
    fi
} | tee -a "$out/table.md"
echo "gpu-check: wrote $out/table.md"
