"""Regenerate the banked SRAM tables of accelsim/energy/profiles/accelergy45.toml with CACTI 7.

The profile's single-bank read energies come from CACTI 7 under Accelergy's CACTI settings
(one RW port, low-standby-power cells, a RAM, 64-bit block, the design objective and deviations
of hwcomponents-cacti's default_cfg.cfg). This script runs the same CACTI with the same settings
for 2 to 1,024 banks ("-UCA bank N": N banks behind CACTI's H-tree, whose wires and drivers are
part of each access's energy and of the area) and prints the TOML tables: read energy per
64-bit access (pJ) and area (mm2), by capacity (rows) and bank count (columns), per node.
A bank of fewer than 64 rows of 64 bits is outside what CACTI models: left out (0).

    pip download --no-deps hwcomponents-cacti==1.0.40 --python-version 3.12 --only-binary=:all: -d /tmp/w
    cd /tmp/w && unzip -q hwcomponents_cacti-*.whl && cd hwcomponents_cacti/cacti
    rm -rf cacti obj_dbg obj_opt && make              # the wheel's binary needs a newer glibc
    python docs/cacti/make_tables.py /tmp/w/hwcomponents_cacti > /tmp/tables.toml
"""

import csv
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

CAPACITY_KB = [1, 8, 32, 64, 128, 256, 512, 1024, 2048]
BANKS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
NODES = [22, 32, 45, 65]


def cacti(package: Path, size: int, banks: int, node_nm: int, scratch: Path) -> tuple[float, float]:
    cfg = (package / "default_cfg.cfg").read_text() + (
        f"\n-size (bytes) {size}\n-read-write port  1\n-block size (bytes) 8\n-technology (u) {node_nm / 1000}\n"
        f"-output/input bus width  64\n-UCA bank {banks}\n-cache type \"ram\"\n-tag size (b) 0\n-associativity 1\n")
    path = scratch / hashlib.sha256(cfg.encode()).hexdigest()[:16]
    path.write_text(cfg)
    subprocess.run(["./cacti", "-infile", str(path)], cwd=package / "cacti", check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    row = list(csv.DictReader(open(f"{path}.out")))[-1]
    return float(row[" Dynamic read energy (nJ)"]) * 1e3, float(row[" Area (mm2)"])


def main() -> None:
    package = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as scratch:
        for node in NODES:
            reads, areas = [], []
            for kb in CAPACITY_KB:
                row_read, row_area = [], []
                for banks in BANKS:
                    if kb * 1024 // banks < 64 * 8:
                        row_read.append(0.0)
                        row_area.append(0.0)
                        continue
                    read, area = cacti(package, kb * 1024, banks, node, Path(scratch))
                    row_read.append(round(read, 3))
                    row_area.append(round(area, 5))
                reads.append(row_read)
                areas.append(row_area)
            print(f"nm{node}_read = {reads}")
            print(f"nm{node}_area = {areas}")


if __name__ == "__main__":
    main()
