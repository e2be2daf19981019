"""What fits on screen: the result panels, the colour bar, the readout, the model details and the docks'
fields at 1024×700, the space shared at 1920×1080; one error picture; loss units on every axis and column."""

from __future__ import annotations

import numpy as np
import pytest
from guikit import WAIT_MS, settle
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QWidget,
)

from maskviz.figures import error_image, error_scales, loss_unit


def _sized(qtbot, window, width: int, height: int) -> None:
    window.resize(width, height)
    qtbot.waitUntil(lambda: window.size().toTuple() == (width, height), timeout=WAIT_MS)
    for _ in range(3):  # the dock column follows the window on the next event-loop turn, the panels after it
        qtbot.wait(50)
        QApplication.processEvents()


def _rect_in(widget: QWidget, ancestor: QWidget) -> QRect:
    return QRect(widget.mapTo(ancestor, QPoint(0, 0)), widget.size())


def _raise(qtbot, window, dock) -> None:
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: dock.widget().isVisible(), timeout=WAIT_MS)
    qtbot.wait(50)


# ---------------------------------------------------------------------------- the result panels


def _narrow_panels(qtbot, window, width: int) -> None:
    """The splitter dragged (or restored from a session) to leave the panels ``width`` pixels."""
    total = sum(window.splitter.sizes())
    window.splitter.setSizes([total - width, width])
    qtbot.wait(50)


@pytest.mark.parametrize("dock", ["curve_dock", "compare_dock", "train_dock", "explain_dock"])
@pytest.mark.parametrize("panel_width", [None, 210])
def test_at_1024x700_every_panel_is_in_view_without_a_horizontal_scroll_bar(qtbot, window, dock, panel_width):
    _raise(qtbot, window, getattr(window, dock))  # whichever dock is in front, the panels keep their room
    _sized(qtbot, window, 1024, 700)
    if panel_width:
        _narrow_panels(qtbot, window, panel_width)
    panels = window.panels
    viewport = panels.scroll.viewport()
    assert not panels.scroll.horizontalScrollBar().isVisible()
    assert not panels.scroll.verticalScrollBar().isVisible()  # they scale down before they scroll
    assert len(panels.cells) == 6
    for key in panels.cells:
        assert viewport.rect().contains(_rect_in(panels.cells[key], viewport)), key
    assert panels.cell_side() >= (100 if panel_width is None else 80)  # still pictures, not stamps


def test_titles_are_elided_to_their_cell_and_whole_in_the_tooltip(qtbot, window):
    _sized(qtbot, window, 1024, 700)
    cell = window.panels.cells["pasted"]
    label = cell.plot.titleLabel
    assert label.boundingRect().width() <= cell.width()
    assert cell.toolTip() == "reconstruction + visible"


@pytest.mark.parametrize("levels", [None, (0.0, 0.09)])  # the result's own range, and one of 4 labels or more
@pytest.mark.parametrize("panel_width", [None, 210])
def test_the_colour_bar_keeps_its_tick_labels(qtbot, window, panel_width, levels):
    _sized(qtbot, window, 1024, 700)
    if panel_width:
        _narrow_panels(qtbot, window, panel_width)
    if levels:
        window.panels._levels["pixel"] = levels  # as a drag of the bar leaves them
        window.panels._show_heatmap()
    axis = window.panels.colorbar.axis
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    _axis, _ticks, texts = axis.generateDrawSpecs(painter)
    painter.end()
    shown = [text for _rect, _flags, text in texts]
    assert len(shown) >= (1 if panel_width else 2), shown  # a narrow cell: the one label that fits
    for rect, _flags, text in texts:  # each label inside the strip the axis was given
        assert axis.boundingRect().contains(rect), text
    rects = sorted((rect for rect, _flags, _text in texts), key=lambda r: r.left())
    for left, right in zip(rects, rects[1:], strict=False):  # and none running into the next
        assert left.right() + 4 <= right.left(), shown


def test_the_hover_readout_has_its_three_lines(qtbot, window):
    _sized(qtbot, window, 1024, 700)
    window.state.view.set_hover(20, 9)
    info = window.panels.info
    lines = info.text().split("\n")
    assert len(lines) == 3 and lines[0].startswith("patch (row 1, col 2)") and lines[1].startswith("loss")
    assert info.heightForWidth(info.width()) <= info.height()  # nothing wrapped out of sight
    assert info.height() >= 3 * info.fontMetrics().lineSpacing()


def test_at_1920x1080_the_panels_fill_their_area_and_the_docks_widen(qtbot, window):
    _sized(qtbot, window, 1024, 700)
    narrow = window.model_dock.width()
    _sized(qtbot, window, 1920, 1080)
    assert window.model_dock.width() >= 0.25 * 1920 > narrow  # not stuck at a laptop's width
    panels = window.panels
    viewport, grid = panels.scroll.viewport().size(), panels.grid_widget.size()
    rows, cols = panels.arrangement
    # No empty margins around the cells: they share the whole area (less than one spacing per cell left).
    assert viewport.width() - grid.width() < cols * panels.grid.spacing() + 4
    assert viewport.height() - grid.height() < rows * panels.grid.spacing() + 4
    assert panels.cell_side() >= 200


def test_a_separator_drag_sets_the_share_the_column_keeps(qtbot, window):
    _sized(qtbot, window, 1400, 900)
    window.resizeDocks([window.model_dock], [600], Qt.Orientation.Horizontal)  # what a drag does
    qtbot.wait(50)
    assert window.dock_share.share == pytest.approx(window.model_dock.width() / 1400, abs=0.01)
    _sized(qtbot, window, 1800, 1000)
    assert window.model_dock.width() == pytest.approx(1800 * window.dock_share.share, abs=8)


# ---------------------------------------------------------------------------- docks and their fields


def test_the_model_details_are_not_squeezed(qtbot, window):
    _raise(qtbot, window, window.train_dock)  # the Train dock takes most of the column's height
    window.show_training()
    _sized(qtbot, window, 1024, 700)
    panel = window.model_panel
    rows = 8  # model, format, family, size, input, patch, target, source
    assert panel.details_scroll.viewport().height() >= rows * panel.details.fontMetrics().lineSpacing()


def _fields(root: QWidget) -> list[QWidget]:
    kinds = (QAbstractButton, QLineEdit, QComboBox, QLabel)
    return [w for w in root.findChildren(QWidget) if isinstance(w, kinds) and w.isVisibleTo(root)
            and not isinstance(w.parentWidget(), QScrollArea | QAbstractSpinBox | QComboBox | type(None))]


@pytest.mark.parametrize("size", [(1024, 700), (1600, 1000)])
@pytest.mark.parametrize("dock", ["compare_dock", "train_dock", "explain_dock"])
def test_dock_fields_are_never_clipped(qtbot, window, dock, size):
    dock = getattr(window, dock)
    _raise(qtbot, window, dock)
    _sized(qtbot, window, *size)
    area = dock.widget()
    assert isinstance(area, QScrollArea)
    assert not area.horizontalScrollBar().isVisible()  # it may scroll vertically, never sideways
    inner, viewport = area.widget(), area.viewport()
    assert inner.width() <= viewport.width()
    assert inner.minimumSizeHint().width() <= viewport.width()
    clipped = []
    for field in _fields(inner):
        box = _rect_in(field, inner)
        squeezed = field.width() < min(field.minimumSizeHint().width(), 60) < field.maximumWidth()  # not fixed
        if box.right() > inner.width() or squeezed:
            clipped.append((type(field).__name__, getattr(field, "text", lambda: "")()[:30], box.getRect()))
    assert not clipped


# ---------------------------------------------------------------------------- one error picture


def test_the_heatmap_greys_out_visible_patches_like_the_exports(qtbot, window):
    r = window.panels.result
    assert r.mask.any() and (~r.mask).any()
    (vmax,) = error_scales([r], "pixel").values()
    expected = error_image(r, vmax, "pixel")  # what maskviz reconstruct, the exports and Compare draw
    shown = window.panels.images["error"].image
    np.testing.assert_array_equal(shown, expected)
    p = r.original.shape[0] // r.mask.shape[0]
    row, col = np.argwhere(~r.mask)[0]
    patch = shown[row * p:(row + 1) * p, col * p:(col + 1) * p].reshape(-1, 3).astype(int)
    assert (patch.min(axis=1) >= 150).all()  # faded toward the page: no dark colour-map pixels
    window.heatmap_actions["patch"].trigger()
    (vmax,) = error_scales([r], "patch").values()
    np.testing.assert_array_equal(window.panels.images["error"].image, error_image(r, vmax, "patch"))


# ---------------------------------------------------------------------------- loss units


def test_the_loss_curve_names_the_loss_unit(window):
    label = window.curve.plot.getAxis("left").labelText
    assert label == f"masked-region loss ({loss_unit(window.state.model.config.loss_name)})"
    assert "(MSE)" in label


def test_compare_table_and_sweep_name_the_unit_and_the_legend_leaves_the_curves_free(qtbot, window):
    window.show_compare()
    state = window.compare_state
    state.set_settings(specs="random:0.5", seeds=1, ratios="0.25:0.75:0.25")
    assert window.compare_controller.run()
    qtbot.waitUntil(lambda: state.snapshot is not None and state.snapshot.finished, timeout=WAIT_MS)
    view = window.compare
    view._draw()
    heads = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert any(h.endswith("\nMSE loss") for h in heads), heads
    assert not any(h.endswith("\nloss") for h in heads)
    view.tabs.setCurrentIndex(1)
    view._draw()
    plot = view.sweep.plots["loss"]
    assert plot.getPlotItem().getAxis("left").labelText == "loss (MSE)"
    assert plot.getPlotItem().legend is None  # nothing drawn over the curves
    for curve in state.snapshot.curves:
        assert curve.label in view.sweep.legend.text()
    settle(qtbot, window)


def test_a_title_that_does_not_fit_shows_its_shorter_form_before_eliding(qtbot):
    from maskviz.gui.viewer.panel_cells import PanelCell

    cell = PanelCell("original")
    qtbot.addWidget(cell)
    full, short = "original · tiles 1024x768 px", "tiles 1024x768 px"
    for width, shown in ((600, full), (130, short), (60, None)):
        cell.resize(width, 200)
        cell.set_title(full, (short,))
        text = cell.plot.titleLabel.text
        assert (text == shown) if shown else (text.endswith("…") and text.startswith("orig")), (width, text)
        assert cell.toolTip() == full
