"""Exception classes of accelsim.

Every error the library raises on bad input derives from :class:`AccelsimError`, so a caller
(the CLI among them) can catch one class and print its message, which always names what was
wrong and what was expected. A message is always one line: characters that are not printable
(a line break in a file name given on the command line, say) are shown escaped, as ``repr``
shows them.
"""


def one_line(text: str) -> str:
    """``text`` with every non-printable character escaped (``\\n``, ``\\x1b``, ``\\u2028``)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class AccelsimError(Exception):
    """Base class of all accelsim errors caused by bad input."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class WorkloadError(AccelsimError, ValueError):
    """A layer or network is malformed (impossible shapes, duplicate names, ...)."""


class UnknownNameError(AccelsimError, KeyError):
    """A name (network, dataflow, timing convention, scheduler) is not in its registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return one_line(str(self.args[0]))


class TopologyError(AccelsimError, ValueError):
    """A SCALE-Sim topology CSV cannot be read; the message names the file and line."""


class ConfigError(AccelsimError, ValueError):
    """A hardware configuration is invalid; the message names the source and the key."""


class TraceError(AccelsimError, ValueError):
    """A gate trace is malformed or disagrees with the network; the message names the file
    and the field."""


class SweepError(AccelsimError):
    """A sweep cannot run or write its results; the message names the folder or file."""
