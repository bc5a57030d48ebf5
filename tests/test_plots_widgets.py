import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from regopt import plots, widgets  # noqa: E402
from regopt.train import History  # noqa: E402


def history(n=5, offset=0.0):
    h = History()
    for e in range(1, n + 1):
        h.epoch.append(e)
        h.train_loss.append(1 / e + offset)
        h.train_error.append(0.5 / e + offset)
        h.train_penalty.append(0.0)
        h.test_loss.append(1.2 / e + offset)
        h.test_error.append(0.6 / e + offset)
    return h


def test_style_uses_the_colour_blind_safe_palette():
    plots.use_style()
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert cycle[:3] == [plots.OKABE_ITO["blue"], plots.OKABE_ITO["orange"], plots.OKABE_ITO["green"]]


def test_plot_history_labels_axes_and_draws_train_and_test():
    ax = plots.plot_history({"λ=0": history(), "λ=1": history(offset=0.1)})
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "error rate"
    assert len(ax.get_lines()) == 4
    plt.close("all")
    with pytest.raises(ValueError, match=r"metric='accuracy'"):
        plots.plot_history(history(), metric="accuracy")


def test_plot_vs_lambda_draws_mean_and_band_and_checks_lengths():
    ax = plots.plot_vs_lambda([0, 1e-3, 1e-2], {"test": [[0.1, 0.09, 0.2], [0.12, 0.1, 0.22]]})
    assert ax.get_xscale() == "symlog" and ax.get_xlabel() == "penalty strength λ"
    assert len(ax.collections) == 1  # the ± std band
    with pytest.raises(ValueError, match=r"has 2 values per row but there are 3 λ"):
        plots.plot_vs_lambda([0, 1, 2], {"x": [1, 2]})
    plt.close("all")


def test_decision_boundary_and_contours():
    x = torch.randn(30, 2)
    y = (x[:, 0] > 0).long()
    ax = plots.plot_decision_boundary(lambda g: torch.sigmoid(5 * g[:, 0]), x, y, resolution=40)
    assert ax.get_xlabel() == "$x_1$"
    ax = plots.plot_contours(lambda a, b: a**2 + 10 * b**2, (-1, 1), (-1, 1),
                             paths={"gd": [[1, 1], [0.5, 0.2], [0, 0]]}, resolution=50)
    assert ax.get_legend() is not None
    with pytest.raises(ValueError, match=r"path 'bad' has shape \(3,\)"):
        plots.plot_contours(lambda a, b: a + b, (0, 1), (0, 1), paths={"bad": [1, 2, 3]}, resolution=10)
    plt.close("all")


def draw(ax, lam, kind="a"):
    ax.plot([0, 1], [0, lam], label=kind)
    ax.set_xlabel("x")
    ax.set_ylabel("y")


def test_static_mode_draws_one_panel_per_static_value(monkeypatch):
    monkeypatch.setenv("REGOPT_STATIC", "1")
    fig = widgets.interactive_figure(
        draw, {"lam": widgets.slider(0, 2, value=1, description="λ"), "kind": widgets.dropdown(["a", "b"])},
        static={"lam": [0.5, 1.0, 2.0]})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3
    assert [ax.get_title() for ax in visible] == ["λ = 0.5", "λ = 1", "λ = 2"]
    plt.close("all")


def test_interactive_mode_returns_widgets(monkeypatch):
    import ipywidgets

    monkeypatch.setenv("REGOPT_STATIC", "0")
    monkeypatch.setattr(widgets, "is_interactive", lambda: True)
    box = widgets.interactive_figure(draw, {"lam": widgets.log_slider(-2, 1, value=0.1)})
    assert isinstance(box, ipywidgets.VBox)
    slider = box.children[0].children[0]
    assert isinstance(slider, ipywidgets.FloatLogSlider) and slider.value == pytest.approx(0.1)
    plt.close("all")


def test_outside_a_kernel_is_not_interactive(monkeypatch):
    monkeypatch.setenv("REGOPT_STATIC", "0")
    assert widgets.is_interactive() is False


@pytest.mark.parametrize("call, message", [
    (lambda: widgets.slider(1, 0), r"min=1, max=0"),
    (lambda: widgets.slider(0, 1, value=3), r"value=3 lies outside"),
    (lambda: widgets.log_slider(-1, 1, value=1000), r"value=1000 lies outside"),
    (lambda: widgets.dropdown([]), r"empty list"),
    (lambda: widgets.interactive_figure(draw, {}), r"controls is empty"),
    (lambda: widgets.interactive_figure(draw, {"lam": widgets.slider(0, 1)}, static={"mu": [1]}),
     r"static names \['mu'\]"),
])
def test_widget_validation(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
