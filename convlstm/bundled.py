"""Files the package ships, the trained weights and the MNIST digit bank, found in a checkout and in an install."""
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def bundled(*parts: str) -> Path:
    """weights/... or assets/...: beside the package in a checkout, inside it once pip-installed (pyproject maps them)."""
    inside = _HERE.joinpath(*parts)
    return inside if inside.exists() else _HERE.parent.joinpath(*parts)
