"""Hardware configuration: validation, TOML, SCALE-Sim .cfg import."""

import math

import pytest

from accelsim import ConfigError, HardwareConfig, load_config, load_scalesim_config, save_config
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


@pytest.mark.parametrize("text, message", [
    ("[energy]\nmac = -1\n", "energy.mac: expected a non-negative number"),
    ("[energy]\nmac = 'x'\n", "energy.mac: expected a non-negative number"),
    ('energy_profile = "cacti"\n', "energy_profile: expected one of accelergy45, horowitz45"),
])
def test_bad_energy_config(tmp_path, text, message):
    (tmp_path / "hw.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "hw.toml")


def test_partial_toml_keeps_defaults(tmp_path):
    (tmp_path / "hw.toml").write_text("array_rows = 8\n")
    assert load_config(tmp_path / "hw.toml") == DEFAULT_CONFIG.replace(array_rows=8)


@pytest.mark.parametrize("text, message", [
    ('array_rows = "abc"\n', r"hw.toml: array_rows: expected an integer from 1 to 65536, got 'abc'"),
    ("array_rows = 8.0\n", "array_rows: expected an integer from 1 to 65536, got 8.0"),
    ("array_cols = true\n", "array_cols: expected an integer from 1 to 65536, got True"),
    ("ifmap_sram_kib = -1\n", "ifmap_sram_kib: expected a positive number, got -1"),
    ('dataflow = "rs"\n', "dataflow: expected one of os, ws, is, got 'rs'"),
    ('timing = "fast"\n', "timing: expected one of pipelined, physical, scalesim"),
    ("arrayrows = 8\n", "arrayrows: unknown key; expected one of: array_rows"),
    ("accumulator_bits = 4\n", "accumulator_bits: expected at least operand_bits"),
    ("array_rows = \n", "hw.toml: not valid TOML"),
    ("array_rows = 100000\n", "array_rows: expected an integer from 1 to 65536, got 100000"),
    ('dataflow = ["os"]\n', r"dataflow: expected one of os, ws, is, got \['os'\]"),
    ("clock_mhz = inf\n", "clock_mhz: expected a positive number, got inf"),
    ("dram_bandwidth_bytes_per_cycle = nan\n", "expected a positive number or inf, got nan"),
    ("[array]\nrows = 4\n", "array: unknown key"),
    ("array_slices = 3\n", r"array_slices: expected a divisor of array_cols \(32\) times the bands of rows "
                           r"\(32 / 32 = 1\), got 3"),
    ("slice_rows = 5\n", r"slice_rows: expected a divisor of array_rows \(32\) or 0, got 5"),
    ("slice_rows = 8\narray_slices = 2\n", r"array_slices: expected .* times the bands of rows \(32 / 8 = 4\), got 2"),
    ("slice_rows = 8\narray_slices = 12\n", r"array_slices: expected .* times the bands of rows \(32 / 8 = 4\), got 12"),
])
def test_bad_toml_names_file_and_key(tmp_path, text, message):
    (tmp_path / "hw.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "hw.toml")


def test_unreadable_config_files(tmp_path):
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="latin1.toml: cannot be read"):
        load_config(tmp_path / "latin1.toml")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_scalesim_config(tmp_path)


def test_float_fields_hold_floats():
    assert isinstance(HardwareConfig(clock_mhz=500).clock_mhz, float)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "none.toml")


@pytest.mark.parametrize("text, expected", [("32x32", (32, 32)), ("8X4", (8, 4)), ("1x128", (1, 128))])
def test_parse_array(text, expected):
    assert parse_array(text) == expected


@pytest.mark.parametrize("text", ["0x4", "abc", "4x", "4x4x4", "-4x4", "4.5x4", "\u00b2x4", "99999999x4", ""])
def test_parse_array_rejects(text):
    with pytest.raises(ConfigError, match="--array: expected ROWSxCOLS"):
        parse_array(text)


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


def test_user_mode_rejects_a_negative_bandwidth(tmp_path):
    (tmp_path / "s.cfg").write_text(SCALESIM_CFG.format(mode="USER").replace("Bandwidth : 10", "Bandwidth : -3"))
    with pytest.raises(ConfigError, match="s.cfg: Bandwidth: expected a positive number, got -3"):
        load_scalesim_config(tmp_path / "s.cfg")


@pytest.mark.parametrize("value", ["0", "nan", "-3", "1e-300"])
def test_calc_mode_still_refuses_a_bandwidth_that_could_never_be_valid(tmp_path, value):
    (tmp_path / "s.cfg").write_text(SCALESIM_CFG.format(mode="CALC").replace("Bandwidth : 10", f"Bandwidth : {value}"))
    with pytest.raises(ConfigError, match="s.cfg: Bandwidth"):
        load_scalesim_config(tmp_path / "s.cfg")


def test_a_config_without_architecture_presets_is_refused(tmp_path):
    (tmp_path / "s.cfg").write_text("[general]\nrun_name = x\n")
    with pytest.raises(ConfigError, match=r"s.cfg: no \[architecture_presets\] section"):
        load_scalesim_config(tmp_path / "s.cfg")


def test_user_mode_needs_bandwidth(tmp_path):
    (tmp_path / "s.cfg").write_text(SCALESIM_CFG.format(mode="USER").replace("Bandwidth : 10", ""))
    with pytest.raises(ConfigError, match="Bandwidth: expected a number when InterfaceBandwidth = USER"):
        load_scalesim_config(tmp_path / "s.cfg")


@pytest.mark.parametrize("old, new, message", [
    ("ArrayHeight:    16", "ArrayHeight: sixteen", "s.cfg: ArrayHeight: expected an integer, got 'sixteen'"),
    ("ArrayHeight:    16", "ArrayHeight: 0", "s.cfg: ArrayHeight: expected an integer from 1 to 65536, got 0"),
    ("InterfaceBandwidth: {mode}", "InterfaceBandwidth: calc", "InterfaceBandwidth: expected CALC or USER"),
    ("Dataflow : ws", "Dataflow : rs", "s.cfg: Dataflow: expected one of os, ws, is, got 'rs'"),
    ("[general]", "general", "not a valid SCALE-Sim config"),
])
def test_bad_scalesim_config(tmp_path, old, new, message):
    (tmp_path / "s.cfg").write_text(SCALESIM_CFG.replace(old, new).replace("{mode}", "CALC"))
    with pytest.raises(ConfigError, match=message):
        load_scalesim_config(tmp_path / "s.cfg")


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
    array holds 64 slices of 16 rows; a 24-row one cannot, and the error names the field."""
    base = DEFAULT_CONFIG.replace(array_slices=64, slice_rows=16)
    (tmp_path / "s.cfg").write_text("[architecture_presets]\nArrayHeight = 16\nArrayWidth = 64\n")
    config, _ = load_scalesim_config(tmp_path / "s.cfg", base=base)
    assert (config.array_rows, config.array_cols, config.rows_per_slice, config.slice_cols) == (16, 64, 16, 1)
    (tmp_path / "s.cfg").write_text("[architecture_presets]\nArrayHeight = 24\nArrayWidth = 32\n")
    with pytest.raises(ConfigError, match=r"s.cfg: slice_rows: expected a divisor of array_rows \(24\) or 0, got 16"):
        load_scalesim_config(tmp_path / "s.cfg", base=base)
