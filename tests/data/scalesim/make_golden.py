#!/usr/bin/env python3
"""Regenerate the SCALE-Sim 3.0.0 golden runs in this folder.

Run with any python3:  python3 make_golden.py [case ...]
SCALE-Sim runs under $SCALESIM_PYTHON, a Python with scalesim==3.0.0 and numpy==2.3.5:
    python3 -m venv /tmp/ss && /tmp/ss/bin/pip install scalesim==3.0.0 numpy==2.3.5
    SCALESIM_PYTHON=/tmp/ss/bin/python python3 make_golden.py
For each case folder it writes scale.cfg, topology.csv and a header-only layout.csv,
runs SCALE-Sim into a scratch dir, copies the *REPORT*.csv files and the console
log, and deletes the per-cycle traces. Only scale.cfg, topology.csv and
COMPUTE_REPORT.csv are kept in the repository.
"""
import os, shutil, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.environ.get("SCALESIM_PYTHON", "python3")

CFG = """[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:    {sram}
FilterSramSzkB:   {sram}
OfmapSramSzkB:    {sram}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Dataflow : {df}
Bandwidth : 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

CONV_HDR = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
CONV_TOPO = CONV_HDR + """conv3x3_s1, 10, 10, 3, 3, 3, 8, 1,
conv3x3_s2_uneven, 12, 12, 3, 3, 8, 16, 2,
conv1x1_s2, 9, 9, 1, 1, 16, 32, 2,
conv7x7_s2, 21, 21, 7, 7, 3, 16, 2,
fc, 1, 1, 1, 1, 64, 10, 1,
conv5x3_nonsquare, 11, 9, 5, 3, 4, 6, 1,
conv1x1_s2_uneven, 10, 10, 1, 1, 8, 16, 2,
"""

GEMM_TOPO = """Layer, M, N, K,
gemm_17_9_23, 17, 9, 23,
gemm_64_64_64, 64, 64, 64,
gemm_5_40_3, 5, 40, 3,
"""

DW_TOPO = CONV_HDR + """conv_before, 10, 10, 3, 3, 3, 8, 1,
DP_conv, 10, 10, 3, 3, 4, 4, 1,
conv_after, 10, 10, 3, 3, 3, 8, 1,
"""

# Rows 2 and 4 lack the trailing comma.  Row 2 has a Sparsity column (which is
# then silently dropped by split(',')[:-1]); row 4 is a plain 8-column row.
NOTRAIL_OK_TOPO = CONV_HDR.replace("Strides,", "Strides, Sparsity,") + """conv_a, 10, 10, 3, 3, 3, 8, 1, 1:1,
conv_b_nocomma, 12, 12, 3, 3, 8, 16, 2, 2:4
conv_c, 9, 9, 1, 1, 16, 32, 2,
"""
NOTRAIL_CRASH_TOPO = CONV_HDR + """conv_a, 10, 10, 3, 3, 3, 8, 1,
conv_b_nocomma, 12, 12, 3, 3, 8, 16, 2
"""
NOTRAIL_GEMM_TOPO = """Layer, M, N, K,
gemm_a, 17, 9, 23,
gemm_b_nocomma, 64, 64, 64
"""

SPARSE_TOPO = CONV_HDR.replace("Strides,", "Strides, Sparsity,") + """conv3x3_s1_sp24, 10, 10, 3, 3, 3, 8, 1, 2:4,
conv3x3_s2_uneven_sp14, 12, 12, 3, 3, 8, 16, 2, 1:4,
conv1x1_s2_sp11, 9, 9, 1, 1, 16, 32, 2, 1:1,
fc_sp24, 1, 1, 1, 1, 64, 10, 1, 2:4,
"""

CASES = {}
def add(name, df, rows, cols, topo, gemm=False, sram=256, expect_fail=False):
    CASES[name] = dict(df=df, rows=rows, cols=cols, topo=topo, gemm=gemm,
                       sram=sram, expect_fail=expect_fail)

for df in ("os", "ws", "is"):
    for (r, c) in ((8, 8), (4, 16), (16, 4)):
        add(f"{df}_{r}x{c}", df, r, c, CONV_TOPO)
add("os_32x32", "os", 32, 32, CONV_TOPO)
for df in ("os", "ws", "is"):
    add(f"gemm_{df}_8x8", df, 8, 8, GEMM_TOPO, gemm=True)
add("dw_os_8x8", "os", 8, 8, DW_TOPO)
add("notrailing_os_8x8", "os", 8, 8, NOTRAIL_OK_TOPO)
add("notrailing_crash_os_8x8", "os", 8, 8, NOTRAIL_CRASH_TOPO, expect_fail=True)
add("notrailing_gemm_crash_os_8x8", "os", 8, 8, NOTRAIL_GEMM_TOPO, gemm=True, expect_fail=True)
add("sparsity_col_os_8x8", "os", 8, 8, SPARSE_TOPO)
add("sparsity_col_ws_8x8", "ws", 8, 8, SPARSE_TOPO)
# tiny OFMAP SRAM (1 kB) to see whether write-back stalls appear in CALC mode
add("small_ofmap_sram_os_8x8", "os", 8, 8, CONV_TOPO, sram=1)


def run_case(name, c):
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    run_name = name
    with open(os.path.join(d, "scale.cfg"), "w") as f:
        f.write(CFG.format(run_name=run_name, rows=c["rows"], cols=c["cols"],
                           df=c["df"], sram=c["sram"]))
    with open(os.path.join(d, "topology.csv"), "w") as f:
        f.write(c["topo"])
    # A layout file must exist (the CLI default ./layouts/conv_nets/test.csv
    # is checked even though custom layouts are off); header-only is enough.
    with open(os.path.join(d, "layout.csv"), "w") as f:
        f.write("Layer name,\n")
    scratch = os.path.join(HERE, "_scratch", name)
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    cmd = [PY, "-m", "scalesim.scale", "-c", "scale.cfg", "-t", "topology.csv",
           "-l", "layout.csv", "-p", scratch]
    if c["gemm"]:
        cmd += ["-i", "gemm"]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    dt = time.time() - t0
    with open(os.path.join(d, "scalesim_stdout_stderr.log"), "w") as f:
        f.write(p.stdout + "\n--- stderr ---\n" + p.stderr + f"\n--- rc={p.returncode} wall={dt:.1f}s\n")
    out = os.path.join(scratch, run_name)
    copied = []
    if os.path.isdir(out):
        for fn in sorted(os.listdir(out)):
            if "REPORT" in fn and fn.endswith(".csv"):
                shutil.copy(os.path.join(out, fn), os.path.join(d, fn))
                copied.append(fn)
    shutil.rmtree(scratch, ignore_errors=True)   # drops the per-cycle traces
    print(f"{name:32s} rc={p.returncode} {dt:6.1f}s reports={copied}", flush=True)


if __name__ == "__main__":
    names = sys.argv[1:] or list(CASES)
    for n in names:
        run_case(n, CASES[n])
    shutil.rmtree(os.path.join(HERE, "_scratch"), ignore_errors=True)
