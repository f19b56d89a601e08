"""The figures' shared parts: one figure made, saved and closed, and the axis of accuracy by quarter."""

import contextlib

QUARTERS = ("1st", "2nd", "3rd", "4th")


@contextlib.contextmanager
def figure(path, ncols=1, size=(5.5, 3.5), dpi=120, title=None, **subplots_kwargs):
    """Yields the axes of a new figure of `ncols` panels side by side; then lays it out, saves it and closes it.

    The figure is drawn off screen (matplotlib's Agg backend) and closed even
    if the body raises (it is then not saved).

    Args:
        path: where the figure is saved (PNG, or any format matplotlib infers from the name).
        ncols: panels, side by side.
        size: `(width, height)` of one panel, in inches; the figure is `ncols` panels wide.
        dpi: resolution of the saved figure.
        title: title above all the panels (`suptitle`), if any.
        **subplots_kwargs: passed to `plt.subplots`, e.g. `sharey=True`.

    Yields:
        A list of `ncols` matplotlib axes, left to right.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width, height = size
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False, **subplots_kwargs)
    try:
        yield list(axes[0])
        if title is not None:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


def quarter_axis(ax, xlabel="quarter of the sequence holding what the answer needs", ylabel="test accuracy"):
    """Sets `ax` up for accuracy by quarter of the sequence: one x tick per quarter at 1 to 4, y from 0 to 1.

    Args:
        ax: the matplotlib axes; plot the four values at x = 1, 2, 3, 4.
        xlabel: label of the x axis (what the quarters are quarters of).
        ylabel: label of the y axis; None leaves it unset (e.g. on panels that share the first one's).
    """
    ax.set_xticks(range(1, 5), QUARTERS)
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
