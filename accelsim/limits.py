"""Upper bounds on what an input file may ask for (see docs/limits.md).

Every input is checked against these before anything is allocated, so a small hostile file
fails at once with a one-line error instead of costing gigabytes or minutes. The bounds are
far above what real networks and traces need.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from accelsim.errors import AccelsimError

# -- files -----------------------------------------------------------------------------------
#: bytes of a TOML hardware config or a SCALE-Sim ``.cfg``
MAX_CONFIG_BYTES = 1 << 20
#: characters of one line of a topology CSV
MAX_TOPOLOGY_LINE = 1 << 16
#: bytes of a gate trace's ``manifest.npy`` member (its JSON is parsed whole)
MAX_MANIFEST_BYTES = 8 << 20
#: a compressed trace member may inflate to at most this many times its stored size (plus
#: :data:`INFLATE_ALLOWANCE`); store members uncompressed to go beyond
MAX_INFLATE_RATIO = 100
INFLATE_ALLOWANCE = 1 << 20

# -- workloads -------------------------------------------------------------------------------
#: layers of one network (after SCALE-Sim's expansion of depthwise rows) or one trace
MAX_LAYERS = 100_000
#: any one GEMM dimension of a layer: M (output pixels), N (filters), K (reduction length);
#: the simulator keeps index vectors of these lengths
MAX_GEMM_DIMENSION = 1 << 24
#: elements of any one operand of a layer: input (M·K per group, all groups), weights (K·N),
#: output (M·N); keeps every byte count of a layer's traffic far inside 64 bits
MAX_OPERAND_ELEMENTS = 1 << 36
#: decisions of one image of one gated layer (out_channels·out_h·out_w): a gated layer's
#: masks are held per image, unpacked
MAX_IMAGE_DECISIONS = 1 << 31
#: images of a synthetic trace (its per-image offsets are drawn up front)
MAX_SYNTH_IMAGES = 1 << 20
#: decisions per image of one layer of a synthetic trace (an image is drawn in float64)
MAX_SYNTH_IMAGE_DECISIONS = 1 << 22
#: bytes of packed decisions a synthetic trace may hold (images × bytes per image, all layers)
MAX_SYNTH_BYTES = 1 << 30

#: elements of the example input ``accelsim topology --from-torch`` runs the model on (1 GiB
#: of float32)
MAX_EXAMPLE_ELEMENTS = 1 << 28

# -- hardware config -------------------------------------------------------------------------
#: array clock, MHz (1 kHz to 1 THz)
CLOCK_MHZ_RANGE = (1e-3, 1e6)
#: finite DRAM bandwidth, bytes per cycle (``inf`` is also accepted: no stalls)
BANDWIDTH_RANGE = (1e-6, 1e12)
#: each SRAM, KiB (about a byte to about a terabyte)
SRAM_KIB_RANGE = (1e-3, 1e9)
#: any energy-table entry or resolved action, pJ (raw entries include unitless exponents)
MAX_ENERGY_PJ = 1e6


def check_regular_file(path: str | Path, error: type[AccelsimError], max_bytes: int | None = None) -> int:
    """Size in bytes of ``path`` if it is a regular file (not a device, FIFO or directory, which
    could block or never end), at most ``max_bytes`` long; raises ``error`` naming the file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as failure:
        raise error(f"{path}: cannot be read ({failure.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: cannot be read (not a regular file)")
    if max_bytes is not None and info.st_size > max_bytes:
        raise error(f"{path}: cannot be read ({info.st_size:,} bytes; at most {max_bytes:,} allowed)")
    return info.st_size


def read_bounded(path: str | Path, error: type[AccelsimError], max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``. The file is opened without
    blocking and checked again once open, so a path swapped for a FIFO meanwhile is refused
    too."""
    check_regular_file(path, error, max_bytes)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as failure:
        raise error(f"{path}: cannot be read ({failure.strerror})") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise error(f"{path}: cannot be read (not a regular file)")
        try:
            data = handle.read(max_bytes + 1)
        except OSError as failure:
            raise error(f"{path}: cannot be read ({failure.strerror})") from None
    if len(data) > max_bytes:
        raise error(f"{path}: cannot be read (more than {max_bytes:,} bytes)")
    return data
