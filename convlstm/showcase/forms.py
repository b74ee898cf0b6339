"""Form values from the app, checked: a non-integer is refused (never truncated), NaN and infinity are named."""
import math


SLACK = 1e-9  # float noise of slider arithmetic at a range's ends, snapped to the end rather than refused


class FormError(ValueError):
    """A form value the app cannot use; the message names the field and says what to enter."""


def number(value, name: str, low: float, high: float | None = None, whole: bool = False) -> float | int:
    """`value` as a finite number in [low, high] (an int when `whole`), or a FormError naming the field."""
    want = ("a whole number" if whole else "a number") + (f" from {low:g} to {high:g}" if high is not None else f" >= {low:g}")
    if value is None or value == "":
        raise FormError(f"{name} is empty; enter {want}")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise FormError(f"{name} must be {want}, got {value!r}") from None
    if math.isnan(x):
        raise FormError(f"{name} is NaN (not a number); enter {want}")
    if math.isinf(x):
        raise FormError(f"{name} is infinite; enter {want}")
    if whole and not x.is_integer():
        raise FormError(f"{name} must be {want}, got {value!r}; it is not rounded for you")
    if x < low - SLACK or (high is not None and x > high + SLACK):
        raise FormError(f"{name} must be {want}, got {value!r}")
    x = min(max(x, low), high if high is not None else x)  # a slider's 0.02 + 28 x 0.01 is 0.30000000000000004
    return (value if isinstance(value, int) else int(x)) if whole else x
