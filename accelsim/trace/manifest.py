"""The manifest of a gate trace: its JSON built from the records (:func:`manifest_dict`) and,
when read, decoded strictly and checked field by field (:func:`parse_manifest`), so that a bad
manifest is an error naming its first bad field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelsim.limits import MAX_IMAGE_DECISIONS, MAX_LAYERS
from accelsim.trace.format import (FORMAT_NAME, FORMAT_VERSION, LAYER_INTEGER_FIELDS, MANIFEST_FIELDS, MAX_SIZE,
                                   OPTIONAL_LAYER_FIELDS, TraceInfo, TraceLayer, base_layout_problem, trace_error)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {key!r} appears twice")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _integer(path: Path, where: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_SIZE:
        raise trace_error(path, where, f"expected an integer from {low} to {MAX_SIZE}, got {value!r}")
    return value


def _text(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise trace_error(path, where, f"expected a string, got {value!r}")
    return value


def decode_manifest(path: Path, raw: bytes) -> Any:
    """The manifest's JSON from its bytes: a key given twice, ``NaN`` or ``Infinity`` is an error."""
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys,
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise trace_error(path, "manifest", f"not valid UTF-8 JSON ({error})") from None


def _parse_layer(path: Path, index: int, record: Any) -> TraceLayer:
    where = f"layers[{index}]"
    if not isinstance(record, dict):
        raise trace_error(path, where, f"expected an object, got {type(record).__name__}")
    expected = {f for f in TraceLayer.__dataclass_fields__}
    missing = sorted(expected - set(record) - set(OPTIONAL_LAYER_FIELDS))
    if missing:
        raise trace_error(path, f"{where}.{missing[0]}", "missing")
    unknown = sorted(set(record) - expected)
    if unknown:
        raise trace_error(path, f"{where}.{unknown[0]}", "unknown field")
    name = _text(path, f"{where}.name", record["name"])
    if not name or "/" in name or not name.isprintable():
        raise trace_error(path, f"{where}.name", f"expected a non-empty printable name without '/', got {name!r}")
    values = {key: _integer(path, f"{where}.{key}", record[key], 0 if key.startswith("padding") else 1)
              for key in LAYER_INTEGER_FIELDS}
    where = f"layers[{index}] ({name!r})"
    eta = record["base_fraction"]
    if not isinstance(eta, (int, float)) or isinstance(eta, bool) or not 0 < eta <= 1:
        raise trace_error(path, f"{where}.base_fraction", f"expected a number in (0, 1], got {eta!r}")
    for axis in ("h", "w"):
        size, kernel, pad = values[f"in_{axis}"], values[f"kernel_{axis}"], values[f"padding_{axis}"]
        if kernel > size + 2 * pad:
            raise trace_error(path, f"{where}.kernel_{axis}",
                              f"{kernel} is larger than the padded input {size + 2 * pad}")
        out = (size + 2 * pad - kernel) // values["stride"] + 1
        if values[f"out_{axis}"] != out:
            raise trace_error(path, f"{where}.out_{axis}", f"expected {out} (from in_{axis}, "
                              f"kernel_{axis}, stride, padding_{axis}), got {values[f'out_{axis}']}")
    decisions = values["out_channels"] * values["out_h"] * values["out_w"]
    if decisions > MAX_IMAGE_DECISIONS:
        raise trace_error(path, f"{where}.out_channels", f"{decisions:,} decisions per image (out_channels·"
                          f"out_h·out_w), more than the {MAX_IMAGE_DECISIONS:,} allowed "
                          "(accelsim.limits.MAX_IMAGE_DECISIONS)")
    groups = values["gate_groups"]
    if values["out_channels"] % groups or values["in_channels"] % groups:
        raise trace_error(path, f"{where}.gate_groups", f"expected a divisor of in_channels "
                          f"({values['in_channels']}) and out_channels ({values['out_channels']}), got {groups}")
    layout = record.get("base_layout", "grouped")
    problem = base_layout_problem(values["in_channels"], groups, float(eta), layout)
    if problem is not None:
        raise trace_error(path, f"{where}.{problem[0]}", problem[1])
    thresholds = record.get("thresholds")
    if thresholds is not None:
        if (not isinstance(thresholds, list) or len(thresholds) != values["out_channels"]
                or not all(_finite(t) for t in thresholds)):
            raise trace_error(path, f"{where}.thresholds",
                              f"expected null or a list of {values['out_channels']} finite numbers")
        thresholds = tuple(float(t) for t in thresholds)
    return TraceLayer(name=name, base_fraction=float(eta), thresholds=thresholds, base_layout=layout, **values)


def parse_manifest(path: Path, manifest: Any) -> tuple[TraceInfo, tuple[TraceLayer, ...]]:
    """Check a decoded manifest; raises :class:`TraceError` naming the first bad field."""
    if not isinstance(manifest, dict):
        raise trace_error(path, "manifest", "expected a JSON object")
    missing = [key for key in MANIFEST_FIELDS if key not in manifest]
    if missing:
        raise trace_error(path, f"manifest.{missing[0]}", "missing")
    if manifest["format"] != FORMAT_NAME:
        raise trace_error(path, "manifest.format", f"expected {FORMAT_NAME!r}, got {manifest['format']!r}")
    version = manifest["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version != FORMAT_VERSION:
        raise trace_error(path, "manifest.version",
                          f"expected {FORMAT_VERSION} (the version this accelsim reads), got {manifest['version']!r}")
    images = _integer(path, "manifest.images", manifest["images"], 1)
    accuracy = manifest["accuracy"]
    if accuracy is not None and (not isinstance(accuracy, (int, float)) or isinstance(accuracy, bool)
                                 or not 0 <= accuracy <= 1):
        raise trace_error(path, "manifest.accuracy", f"expected null or a fraction in [0, 1], got {accuracy!r}")
    network = manifest.get("network")
    if network is not None:
        _text(path, "manifest.network", network)
    if not isinstance(manifest["provenance"], dict):
        raise trace_error(path, "manifest.provenance", "expected an object")
    if not isinstance(manifest["layers"], list) or not manifest["layers"]:
        raise trace_error(path, "manifest.layers", "expected a non-empty list")
    if len(manifest["layers"]) > MAX_LAYERS:
        raise trace_error(path, "manifest.layers", f"{len(manifest['layers']):,} layers, more than the "
                          f"{MAX_LAYERS:,} allowed (accelsim.limits.MAX_LAYERS)")
    layers = tuple(_parse_layer(path, i, record) for i, record in enumerate(manifest["layers"]))
    names: set[str] = set()
    for layer in layers:
        if layer.name in names:
            raise trace_error(path, "manifest.layers", f"layer {layer.name!r} appears twice")
        names.add(layer.name)
    info = TraceInfo(model=_text(path, "manifest.model", manifest["model"]),
                     dataset=_text(path, "manifest.dataset", manifest["dataset"]), images=images,
                     accuracy=None if accuracy is None else float(accuracy), network=network,
                     provenance=manifest["provenance"])
    return info, layers


def manifest_dict(info: TraceInfo, layers: Sequence[TraceLayer]) -> dict[str, Any]:
    """The manifest of a trace of ``info`` and ``layers``, ready for JSON."""
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "model": info.model,
                "dataset": info.dataset, "accuracy": info.accuracy, "images": info.images,
                "provenance": dict(info.provenance), "layers": [layer.to_json() for layer in layers]}
    if info.network is not None:
        manifest["network"] = info.network
    return manifest
