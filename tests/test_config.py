"""Hardware configuration: TOML, SCALE-Sim .cfg import, slices. What a config file or a value
may not hold (each refusal and its message) is the library table of tests/test_bad_input.py."""

import math

import pytest

from accelsim import HardwareConfig, load_config, load_scalesim_config, save_config
from accelsim.config import DEFAULT_CONFIG, dumps_config, parse_array

# SCALE-Sim configs note that their DRAM answers in one cycle (checked in test_scalesim_config_calc)
pytestmark = pytest.mark.filterwarnings("ignore:.*SCALE-Sim's DRAM answers in one cycle")


def test_defaults_are_valid_and_documented():
    text = dumps_config(DEFAULT_CONFIG)
    for name in DEFAULT_CONFIG.to_dict():
        assert f"\n{name} = " in text or name == "energy_overrides"
    assert "\n[energy]" in text


def test_toml_round_trip(tmp_path):
    config = DEFAULT_CONFIG.replace(array_rows=16, array_cols=8, dataflow="ws", timing="scalesim",
                                    dram_bandwidth_bytes_per_cycle=math.inf)
    save_config(config, tmp_path / "hw.toml")
    assert load_config(tmp_path / "hw.toml") == config


def test_energy_overrides_round_trip(tmp_path):
    config = DEFAULT_CONFIG.replace(energy_profile="horowitz45", energy_overrides={"mac": 0.5, "dram_bit": 12})
    save_config(config, tmp_path / "hw.toml")
    assert load_config(tmp_path / "hw.toml") == config
    assert config.energy_overrides == (("dram_bit", 12.0), ("mac", 0.5))


def test_partial_toml_keeps_defaults(tmp_path):
    (tmp_path / "hw.toml").write_text("array_rows = 8\n")
    assert load_config(tmp_path / "hw.toml") == DEFAULT_CONFIG.replace(array_rows=8)


def test_float_fields_hold_floats():
    assert isinstance(HardwareConfig(clock_mhz=500).clock_mhz, float)


@pytest.mark.parametrize("text, expected", [("32x32", (32, 32)), ("8X4", (8, 4)), ("1x128", (1, 128))])
def test_parse_array(text, expected):
    assert parse_array(text) == expected


SCALESIM_CFG = """[general]
run_name = t

[architecture_presets]
ArrayHeight:    16
ArrayWidth:     4
IfmapSramSzkB:    256
FilterSramSzkB:   128
OfmapSramSzkB:    64
IfmapOffset:    0
Dataflow : ws
Bandwidth : 10

[run_presets]
InterfaceBandwidth: {mode}
"""


def test_scalesim_config_calc(tmp_path):
    (tmp_path / "s.cfg").write_text(SCALESIM_CFG.format(mode="CALC"))
    with pytest.warns(UserWarning, match="s.cfg: SCALE-Sim's DRAM answers in one cycle, so dram_latency_cycles = 1"):
        config, ignored = load_scalesim_config(tmp_path / "s.cfg")
    assert config.dram_latency_cycles == 1  # SCALE-Sim's DRAM answers in one cycle
    assert (config.array_rows, config.array_cols, config.dataflow) == (16, 4, "ws")
    assert (config.ifmap_sram_kib, config.filter_sram_kib, config.ofmap_sram_kib) == (256, 128, 64)
    assert math.isinf(config.dram_bandwidth_bytes_per_cycle)
    assert ignored == ["IfmapOffset", "run_name"]


def test_scalesim_config_user_bandwidth(tmp_path):
    (tmp_path / "s.cfg").write_text(SCALESIM_CFG.format(mode="USER"))
    config, _ = load_scalesim_config(tmp_path / "s.cfg")
    assert config.dram_bandwidth_bytes_per_cycle == 10 * config.word_bytes


def test_scalesim_keys_outside_their_section_are_ignored(tmp_path):
    text = SCALESIM_CFG.format(mode="CALC") + "\n[sparsity]\nArrayHeight: 2\nSparsitySupport : true\n"
    (tmp_path / "s.cfg").write_text(text)
    with pytest.warns(UserWarning, match="SparsitySupport = true is not modelled"):
        config, ignored = load_scalesim_config(tmp_path / "s.cfg")
    assert config.array_rows == 16
    assert "ArrayHeight" in ignored


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        DEFAULT_CONFIG.array_rows = 4  # type: ignore[misc]
    assert isinstance(DEFAULT_CONFIG, HardwareConfig)


@pytest.mark.parametrize("changes, shape", [
    ({}, (32, 32)), ({"array_slices": 4}, (32, 8)), ({"array_slices": 32}, (32, 1)),
    ({"array_slices": 64, "slice_rows": 16}, (16, 1)), ({"array_slices": 2, "slice_rows": 16}, (16, 32)),
    ({"array_slices": 8, "slice_rows": 8}, (8, 16)), ({"array_slices": 1, "slice_rows": 32}, (32, 32)),
])
def test_a_slice_is_its_share_of_the_array(changes, shape):
    """Slices tile the array: P of them, each of rows_per_slice × slice_cols PEs."""
    config = DEFAULT_CONFIG.replace(**changes)
    assert (config.rows_per_slice, config.slice_cols) == shape
    assert config.array_slices * shape[0] * shape[1] == config.array_rows * config.array_cols


def test_scalesim_sides_are_checked_with_the_base_slices(tmp_path):
    """A SCALE-Sim config's array sides are checked as a pair against a sliced base: a 16×64
    array holds 64 slices of 16 rows (a 24-row one cannot: tests/test_bad_input.py)."""
    base = DEFAULT_CONFIG.replace(array_slices=64, slice_rows=16)
    (tmp_path / "s.cfg").write_text("[architecture_presets]\nArrayHeight = 16\nArrayWidth = 64\n")
    config, _ = load_scalesim_config(tmp_path / "s.cfg", base=base)
    assert (config.array_rows, config.array_cols, config.rows_per_slice, config.slice_cols) == (16, 64, 16, 1)
