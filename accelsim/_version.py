"""The version of accelsim, written here only: pyproject.toml reads it (``dynamic``), and
``accelsim --version`` imports this module alone."""

__version__ = "0.1.0"
