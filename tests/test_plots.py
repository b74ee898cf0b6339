import matplotlib.pyplot as plt

from convlstm import plots


def _curves(monkeypatch, rows: list[dict]) -> dict[str, list[float]]:
    """The training-curves figure's lines as {label: y values}, caught before it is written."""
    figs = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figs.append(fig) or path)
    plots.training_curves(rows, "never-written.png")
    lines = {line.get_label(): list(line.get_ydata()) for line in figs[0].axes[0].get_lines()}
    plt.close(figs[0])
    return lines


def test_training_curves_show_whole_range_validation_only_where_logged(monkeypatch):
    old = [{"sequences": s, "train_mse": 120.0 - s, "val_mse": 100.0 - s} for s in (16, 32)]  # before 2026-11-30
    assert _curves(monkeypatch, old) == {"train (running mean)": [104.0, 88.0], "validation (2 digits, speed 0.1)": [84.0, 68.0]}
    new = old + [{"sequences": 48, "train_mse": 70.0, "val_mse": 60.0, "val_mixed_mse": 90.0}]
    lines = _curves(monkeypatch, new)
    assert len(lines) == 3 and lines["validation (1-3 digits, the app's speed range)"] == [90.0]
