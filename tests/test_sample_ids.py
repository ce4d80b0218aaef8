"""The shipped canvas samples name a canvas the same way in the detection and multi-label runs."""

from __future__ import annotations

import pandas as pd

from labelnext.paths import SAMPLE_DATA_DIR
from labelnext.readers import load_run


def test_a_canvas_has_one_id_in_every_sample() -> None:
    detect = load_run(SAMPLE_DATA_DIR / "mnist_detect")
    multilabel = load_run(SAMPLE_DATA_DIR / "mnist_multilabel")
    assert list(multilabel.ids) == list(detect.ids)
    assert detect.ids[131] == "canvas-0132.png" == multilabel.ids[131]
    for run in (detect, multilabel):
        assert run.image_location(131) == SAMPLE_DATA_DIR / "mnist_detect/images/canvas-0132.png"
    truth = pd.read_csv(SAMPLE_DATA_DIR / "mnist_multilabel" / "ground_truth.csv")
    assert list(truth["data_row_id"]) == list(detect.ids)
