"""The panel's Cancel button: honest when it cannot reach a blocked kernel, and what a click
does."""

from __future__ import annotations

from fairing_magics import events as ev
from fairing_magics import pipeline
from fairing_magics.errors import ClusterError, RunCancelled
from fairing_magics.run import Run
from fairing_magics.ui.comm_pump import open_comm_pump
from fairing_magics.ui.jobview import JobView


def test_block_cancel_disables_the_button_and_says_how_to_stop():
    view = JobView(title="t-1", backend="local", stages=("capture", "run"))
    assert not view.cancel_button.disabled and view.cancel_button.description == "Cancel"
    view.block_cancel("■ interrupt the kernel to stop")
    assert view.cancel_button.disabled
    assert view.cancel_button.description == "■ interrupt the kernel to stop"
    assert "interrupt the kernel to stop" in view.cancel_button.tooltip
    view.handle(ev.Finished(ev.SUCCEEDED, "done"))
    assert view.cancel_button.layout.display == "none"


def test_no_comm_pump_outside_a_kernel():
    assert open_comm_pump() is None  # pytest (and the terminal IPython) have no ipykernel


def test_a_panel_cancel_names_the_panel_in_the_cells_error(tmp_path):
    run = Run("r-1", "local", tmp_path / "r-1")
    run.set_canceller(lambda: run.finish(ev.CANCELLED, "cancelled", error=RunCancelled(
        "run r-1 was cancelled; its process was stopped", phase=ev.CANCELLED)))
    polls = []
    clicked = {"done": False}

    def poll():  # the comm pump's turn: the click arrives on the third poll
        polls.append(1)
        if len(polls) == 3 and not clicked["done"]:
            clicked["done"] = True
            pipeline.cancel_from_panel(run)

    try:
        pipeline.follow(run, poll=poll)
    except RunCancelled as exc:
        assert str(exc) == (
            "cancelled from the panel: run r-1 was cancelled; its process was stopped")
        assert exc.phase == ev.CANCELLED
    else:
        raise AssertionError("the cell did not fail")
    assert len(polls) >= 3


def test_a_cancel_that_fails_shows_in_the_panel(tmp_path):
    run = Run("r-2", "kubernetes", tmp_path / "r-2")
    seen = []
    run.subscribe(seen.append)

    def refuse():
        raise ClusterError("forbidden: cannot delete jobs.batch")

    run.set_canceller(refuse)
    pipeline.cancel_from_panel(run)
    notices = [e for e in seen if isinstance(e, ev.Notice)]
    assert notices and notices[0].level == "error" and "cannot delete jobs.batch" in notices[0].text
