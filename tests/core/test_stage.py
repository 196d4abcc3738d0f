"""``events.stage``: the one bracket every synchronous stage goes through."""

from __future__ import annotations

import pytest

from fairing_magics import events as ev


def test_stage_emits_running_then_done_with_detail():
    seen = []
    with ev.stage(seen.append, "build") as step:
        step.detail = "3 layers"
    assert [(e.stage, e.state) for e in seen] == [("build", "running"), ("build", "done")]
    assert seen[1].detail == "3 layers" and seen[1].seconds >= 0


@pytest.mark.parametrize("raised", [RuntimeError("boom"), KeyboardInterrupt()])
def test_stage_fails_on_any_exception_an_interrupt_included(raised):
    seen = []
    with pytest.raises(type(raised)), ev.stage(seen.append, "push"):
        raise raised
    assert [(e.stage, e.state) for e in seen] == [("push", "running"), ("push", "failed")]
