"""Form values from the app, checked: a non-integer is refused (never truncated), NaN and infinity are named."""
import math
from pathlib import Path


SLACK = 1e-9  # float noise of slider arithmetic at a range's ends, snapped to the end rather than refused


class FormError(ValueError):
    """A form value the app cannot use; the message names the field and says what to enter."""


def number(value, name: str, low: float, high: float | None = None, whole: bool = False) -> float | int:
    """`value` as a finite number in [low, high] (an int when `whole`), or a FormError naming the field."""
    want = ("a whole number" if whole else "a number") + (f" from {_g(low)} to {_g(high)}" if high is not None else
                                                           f" >= {_g(low)}" if low > -math.inf else "")
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


KINDS = {"number": ((int, float), "a number"), "bool": ((bool,), "true or false"), "text": ((str,), "text"),
         "choice": ((str,), "text"), "files": ((list,), "a list of uploaded files")}


def payload(value, name: str, kind: str, max_files: int, uploads: Path, low: float | None = None,
            high: float | None = None, choices: list | None = None) -> None:
    """A raw form value as a client sent it (JSON), before Gradio converts it: a FormError naming the field unless it
    has the field's type (None passes: the handler calls it empty). kind: "number", "bool", "text", "choice" (one of
    `choices`, a Radio's (label, value) pairs) or "files"; files must be at most max_files references to files
    uploaded to this server (under `uploads`).

    Gradio's own conversion answers '1e400', [1] or {} for a number, or a malformed file, with an error that names
    nothing, and takes the string "false" for a checkbox as true. A number is checked against the field's own
    range (low, high), which Gradio would also refuse without naming the field."""
    types, want = KINDS[kind]
    if value is None:
        return
    if not isinstance(value, types) or (kind == "number" and isinstance(value, bool)):
        raise FormError(f"{name} must be {want}, got {shown(value)}")
    if kind == "number":
        number(value, name, -math.inf if low is None else low, high)
    if kind == "choice" and value not in (values := [v for _, v in choices or []]):
        raise FormError(f"{name} must be one of {', '.join(map(str, values))}, got {shown(value)}")
    if kind != "files":
        return
    if len(value) > max_files:
        raise FormError(f"{name}: {len(value)} files; at most {max_files} in one request")
    for item in value:
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str) or not path:
            raise FormError(f"{name} must be uploaded files ({{'path': ..., 'meta': {{'_type': 'gradio.FileData'}}}}, "
                            f"as gradio_client's handle_file makes), got {shown(item)}")
        if not Path(path).resolve().is_relative_to(uploads.resolve()):
            raise FormError(f"{name}: {shown(path)} was not uploaded to this server; upload the file first "
                            "(gradio_client: handle_file)")


def _g(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def shown(value) -> str:
    """A client's value for a message: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
