"""The spread study's file (notebooks/cgnet_spread.csv, which the cgnet_headline notebook reads)
is what the code gives: rows of it re-run and compared, and the file covers the whole grid."""

import csv

import pytest
from doctext import ROOT, spread_study

cgnet_spread = spread_study()

with (ROOT / "notebooks" / "cgnet_spread.csv").open() as handle:
    ROWS = list(csv.DictReader(handle))


def point_of(row: dict) -> "cgnet_spread.Point":
    return cgnet_spread.Point(row["gates"], float(row["reduction"]), int(row["seed"]), row["memory"],
                              int(row["slices"]), int(row["slice_rows"]), row["ports"])


def test_the_file_covers_the_grid_once():
    assert sorted(point_of(row).key for row in ROWS) == sorted(point.key for point in cgnet_spread.points(None))


def rerun(row: dict) -> None:
    fresh, = cgnet_spread.measure(point_of(row))
    for column in cgnet_spread.COLUMNS:
        expected = fresh[column]
        if isinstance(expected, str):
            assert row[column] == expected, column
        else:
            assert float(row[column]) == pytest.approx(float(expected), rel=1e-12, abs=1e-12), column


def test_a_sliced_row_is_what_the_code_gives():
    rerun(next(row for row in ROWS if row["gates"] == "synthetic" and row["slices"] == "64" and row["ports"] == "half"
               and row["memory"].startswith("512")))


@pytest.mark.slow
@pytest.mark.parametrize("index", range(0, 748, 61))
def test_rows_are_what_the_code_gives(index):
    rerun(ROWS[index])
