#!/usr/bin/env bash
# Regenerate every figure the README shows, from the repository root's point of view.
#   docs/figures/make.sh            (uses `accelsim` on PATH, or set ACCELSIM=.venv/bin/accelsim)
set -euo pipefail
cd "$(dirname "$0")/../.."
accelsim=${ACCELSIM:-accelsim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# a synthetic ResNet-18 trace at the CGNet headline's 2.8x MAC reduction, 16x16 OS
$accelsim trace synth --network resnet18 --images 8 --target-reduction 2.8 --seed 0 --out "$work/r18.npz"
$accelsim run "$work/r18.npz" --array 16x16 --dataflow os --calibration 0:4 --images 4:8 --out "$work/r18" --quiet
$accelsim plot "$work/r18" --out docs/figures --format png

# the shipped trace on the default accelerator (what `accelsim run` alone does)
$accelsim run --out "$work/shipped" --quiet
$accelsim plot "$work/shipped" --out docs/figures/shipped --format png

# array x ifmap SRAM x dataflow over the shipped trace
$accelsim sweep traces/resnet20-fmnist.npz --array 4x4,8x8,16x16,32x32 --ifmap-kb 16,64,256 \
    --dataflow os,ws --scheduler all --images 16:48 --out "$work/sweep" --quiet
$accelsim plot "$work/sweep" --out docs/figures/sweep --format png
rm -rf docs/figures/sweep/first-point
