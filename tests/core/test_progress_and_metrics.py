"""Progress frames and metric lines as tqdm, Keras 2 and 3, Lightning (tqdm and rich bars),
XGBoost and Katib-style programs print them."""

from __future__ import annotations

import pytest

from fairing_magics.metrics import KATIB_FILTER, MetricParser, MetricSeries
from fairing_magics.progress import parse_progress, parse_seconds


@pytest.mark.parametrize("frame, done, total, eta, label", [
    ("train:  45%|████▌     | 45/100 [00:04<00:05, 10.20it/s, loss=0.3]", 45, 100, 5, "train"),
    ("Epoch 3:  40%|████      | 40/100 [00:02<00:03, 19.87it/s, v_num=0, train_loss=0.412]", 40,
     100, 3, "Epoch 3"),  # Lightning's TQDMProgressBar
    ("\x1b[32mtrain\x1b[0m:  10%|#         | 1.2k/12k [01:02<9:18:00,  2.15it/s]", 1200, 12000,
     33480, "train"),
    (" 45/100 [=============>................] - ETA: 5s - loss: 0.3012", 45, 100, 5,
     ""),  # Keras 2
    ("100/100 [==============================] - 2s 20ms/step - loss: 0.1", 100, 100, 0, ""),
    ("45/100 ━━━━━━━━━╸━━━━━━━━━━ 1:02 50ms/step - loss: 0.3000", 45, 100, 62, ""),  # Keras 3
    ("Epoch 1/9 ━━━━━━━━━━━━━━━━ 31/62 0:00:01 • 0:00:02 29.79it/s v_num: 0", 31, 62, 2,
     "Epoch 1/9"),  # rich
])
def test_progress_frames_are_recognised(frame, done, total, eta, label):
    found = parse_progress(frame, "worker-0")
    assert found is not None
    assert ((found.done, found.total, found.eta, found.label, found.source)
            == (done, total, eta, label, "worker-0"))
    assert "\x1b" not in found.label


def test_an_open_ended_bar_and_ordinary_lines():
    open_ended = parse_progress("fetching: 45it [00:04, 10.20it/s]")
    assert open_ended is not None and open_ended.total == 0 and open_ended.fraction is None
    for line in ("epoch 1/3 done", "ratio 3/4 of the data", "see http://x/y", "hello"):
        assert parse_progress(line) is None
    assert (parse_seconds("1:02:03") == 3723 and parse_seconds("250ms") == 0.25
            and parse_seconds("?") is None)


def test_the_katib_filter_is_katibs_default():
    # the StdOut collector's default filter, as Katib documents it
    assert KATIB_FILTER.pattern == r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def test_metric_lines_of_every_kind():
    parser = MetricParser()
    points = parser.parse([
        "epoch=3 loss=0.41 lr=1e-3",                      # Katib: name=value, epoch is the x
        "Epoch 7/10",                                     # Keras: the epoch of the summary below
        "10/10 [====] - 1s 5ms/step - loss: 0.31 - val_accuracy: 0.9",
        '{"step": 12, "accuracy": 0.93, "note": "x", "ok": true}',
        "[4]\ttrain-rmse:0.51\tvalid-rmse:0.62",           # XGBoost
        "device=cuda batch_size= value=",                 # no numbers: nothing
        "accuracy=0.95",                                  # no x of its own: the last Epoch line's
    ], source="chief-0")
    got = [(p.name, p.value, p.step) for p in points]
    assert got == [("loss", 0.41, 3), ("lr", 0.001, 3), ("loss", 0.31, 7), ("val_accuracy", 0.9, 7),
                   ("accuracy", 0.93, 12), ("train-rmse", 0.51, 4), ("valid-rmse", 0.62, 4),
                   ("accuracy", 0.95, 7)]
    assert {p.source for p in points} == {"chief-0"}


def test_chart_series_stay_bounded_and_keep_the_newest_value():
    series = MetricSeries(max_points=100)
    parser = MetricParser()
    for start in range(0, 100_000, 1000):
        series.add(parser.parse([f"step={i} loss={1 / (i + 1)}"
                                 for i in range(start, start + 1000)]))
    kept = series.points(("loss", ""))
    assert len(kept) <= 101 and kept[0] == (0, 1.0) and kept[-1] == (99_999, 1 / 100_000)
    assert series.count(("loss", "")) == 100_000 and series.best[("loss", "")] == (1 / 100_000, 1.0)
