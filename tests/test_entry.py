"""`accelsim --version`, `python -m accelsim`, and a package import that costs nothing up front."""

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import accelsim

HEAVY = ("pandas", "numpy", "matplotlib", "simpy")


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def test_version_is_the_installed_one():
    assert accelsim.__version__ == metadata.version("accelsim")


def test_python_m_accelsim_version():
    done = _python("-m", "accelsim", "--version")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout == f"accelsim {accelsim.__version__}\n"


def test_version_imports_nothing_heavy():
    code = ("import sys\nfrom accelsim.__main__ import main\nassert main(['--version']) == 0\n"
            f"print(sorted(name for name in {HEAVY!r} if name in sys.modules))")
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_command_modules_import_their_libraries_when_they_run():
    """Importing a command's module imports no pandas, matplotlib, PyTorch or Dask, and
    `accelsim config` (whose options are the only ones built) needs no pandas at all."""
    code = ("import sys\nfrom accelsim.cli import COMMANDS, command_module, main\n"
            "modules = [command_module(name) for name in COMMANDS]\n"
            "import accelsim.cli.common\n"
            "libraries = ('pandas', 'matplotlib', 'torch', 'distributed', 'dask')\n"
            "print(sorted(name for name in libraries if name in sys.modules))\n"
            "assert main(['config', '--array', '8x8']) == 0\n"
            "print(sorted(name for name in libraries if name in sys.modules))")
    done = _python("-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == done.stdout.splitlines()[-1] == "[]"


def test_import_accelsim_is_lazy_but_complete():
    code = ("import sys, accelsim\nassert 'pandas' not in sys.modules\n"
            "from accelsim import *\nimport accelsim as a\n"
            "assert all(getattr(a, name) is not None for name in a.__all__)\n"
            "assert a.sweep.file_digest and 'pandas' in sys.modules\nprint('ok')")
    done = _python("-c", code)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        accelsim.no_such_name  # noqa: B018


def test_python_m_accelsim_runs_commands():
    done = _python("-m", "accelsim", "networks")
    assert done.returncode == 0 and "resnet18" in done.stdout
    done = _python("-m", "accelsim", "no-such-command")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("accelsim: error: ") and done.stderr.count("\n") == 1


def test_help_lists_version_and_cli_main_answers_it(capsys):
    from accelsim.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"accelsim {accelsim.__version__}\n"
    assert "--version" in _python("-m", "accelsim", "--help").stdout


def test_console_script_version():
    script = Path(sys.executable).with_name("accelsim")
    if not script.is_file():
        pytest.skip("the accelsim command is not installed next to this Python")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"accelsim {accelsim.__version__}\n"
