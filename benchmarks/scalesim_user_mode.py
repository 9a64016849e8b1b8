"""Stall cycles side by side with SCALE-Sim 3.0.0 in its USER-bandwidth mode.

    python benchmarks/scalesim_user_mode.py

Reads the SCALE-Sim runs kept in tests/data/scalesim_user (each folder: scale.cfg,
topology.csv and SCALE-Sim's COMPUTE_REPORT.csv, made with InterfaceBandwidth = USER, 4 kB
SRAMs and Bandwidth 10 or 2 words/cycle), runs accelsim on the same config and topology with
the scalesim timing convention, and prints both stall counts per layer. docs/schedulers.md
explains why they differ.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from accelsim import load_scalesim_config, load_topology, run

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "scalesim_user"


def main() -> None:
    for case in sorted(path for path in DATA.iterdir() if path.is_dir()):
        config, _ = load_scalesim_config(case / "scale.cfg")
        ours = run(load_topology(case / "topology.csv"), config.replace(timing="scalesim")).layers
        theirs = pd.read_csv(case / "COMPUTE_REPORT.csv", skipinitialspace=True)
        table = pd.DataFrame({
            "layer": ours["layer"], "compute": ours["cycles_compute"],
            "scalesim_compute": theirs["Total Cycles"] - theirs["Stall Cycles"],
            "scalesim_stall": theirs["Stall Cycles"],
            "scalesim_prefetch": theirs["Total Cycles (incl. prefetch)"] - theirs["Total Cycles"],
            "accelsim_stall": ours["cycles_stall"], "accelsim_dram_read_bytes": ours["dram_read_bytes"],
        })
        print(f"== {case.name}: {config.dataflow} {config.array}, "
              f"{config.dram_bandwidth_bytes_per_cycle:g} bytes/cycle")
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
