"""The pictures' labels: words in any script get a font that draws them, or one clear warning."""

import logging

import matplotlib.pyplot as plt
import numpy as np

from hf_recipes.plots import font_family, plot_word_map


def test_labels_fall_back_to_an_installed_font_that_has_their_characters():
    default = list(plt.rcParams["font.family"])
    assert font_family("king queen") == default
    # U+1D25 is in matplotlib's own DejaVu Serif and not in its DejaVu Sans (the default): as a Hangul word
    # would take an installed Korean font
    assert font_family("king ᴥ") == [*default, "DejaVu Serif"]


def test_characters_no_font_draws_are_said_once_and_the_map_is_still_written(tmp_path, caplog):
    words = ["\u0378a", "\u0379b"]  # unassigned code points: in no font
    with caplog.at_level(logging.WARNING, logger="hf_recipes.plots"):
        for name in ("first.png", "second.png"):
            plot_word_map(np.array([[0.0, 1.0], [1.0, 0.0]]), words, tmp_path / name, "a map")
    warnings = [
        record.getMessage() for record in caplog.records if "no installed font" in record.getMessage()
    ]
    assert len(warnings) == 1 and "\u0378" in warnings[0]
    assert (tmp_path / "first.png").stat().st_size > 0 and (tmp_path / "second.png").stat().st_size > 0
