"""Every unit conversion in one place. SI inside the tool (seconds, joules, watts, bytes, USD); these
constants turn SI into the calendar and billing units that prices, campaigns and energy bills use."""

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
# A Julian year (365.25 days): the basis of capital cost written off over a lifetime in years.
HOURS_PER_YEAR = 8766.0
JOULES_PER_KWH = 3.6e6
JOULES_PER_MWH = 3.6e9


def hours(seconds: float) -> float:
    return seconds / SECONDS_PER_HOUR


def days(seconds: float) -> float:
    return seconds / SECONDS_PER_DAY


def kwh(joules: float) -> float:
    return joules / JOULES_PER_KWH


def mwh(joules: float) -> float:
    return joules / JOULES_PER_MWH
