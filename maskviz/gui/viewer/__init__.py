"""The viewer's views (canvas, toolbar, patterns, result panels, metrics, model details, loss curve)
and the small controllers of its background work (baseline fill, loss curve): each reads the
:class:`~maskviz.gui.state.ViewerState` and redraws on its signals; none calls another."""
