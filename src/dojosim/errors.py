"""The one error type that reaches the user: bad input, explained in a sentence."""

import difflib
from collections.abc import Iterable


class InputError(Exception):
    """Bad input from the user (a file, a flag, a preset name). The CLI prints it and exits 2."""


def closest(word: str, choices: Iterable[str]) -> str:
    """'; did you mean X?' for the closest choice, or '' when nothing is close."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else ""


def allowed(choices: Iterable[str]) -> str:
    return ", ".join(sorted(choices))
