"""bench/choose_export_settings.py's rule (the scoring itself is EditEvaluation's, tested elsewhere): the most
edits closer to the truth among the settings that keep success >= 90% of the truth's under every evaluator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "choose_export_settings.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("choose_export_settings", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(blur, floor, e1, e2, closer):
    return {"blur": blur, "floor": floor, "relative_success": {"E1": e1, "E2": e2}, "closer": closer}


def test_the_rule_takes_the_most_closer_setting_that_keeps_success_under_every_evaluator(bench):
    rows = [
        row(0, 0, 0.95, 0.96, 0.60),
        row(0.5, 0, 0.93, 0.94, 0.66),
        row(0.5, 0.1, 0.91, 0.90, 0.68),  # the boundary counts
        row(0.75, 0.1, 0.95, 0.89, 0.72),  # E2 below: out, however close
        row(1.0, 0, 0.85, 0.95, 0.75),  # E1 below
    ]
    assert bench.choose(rows, 0.9) is rows[2]
    assert bench.choose(rows, 0.95) is rows[0]
    assert bench.choose(rows, 0.99) is None
    # a tie on closer goes to the smaller blur, then the smaller floor
    tied = [row(0.5, 0.1, 0.95, 0.95, 0.7), row(0.25, 0.2, 0.95, 0.95, 0.7), row(0.25, 0.1, 0.95, 0.95, 0.7)]
    assert bench.choose(tied, 0.9) is tied[2]


def test_settings_are_set_on_the_module_that_reads_them(bench):
    from types import SimpleNamespace

    from fashionlab.models.editing.networks import Generator, GeneratorConfig, SaganGenerator, SanConfig

    amgan = SimpleNamespace(G=Generator(3, GeneratorConfig(width=8, residual_blocks=1, attention=True)))
    bench.with_settings(amgan, 0.5, 0.1)
    assert (amgan.G.cfg.content_blur, amgan.G.cfg.mask_floor) == (0.5, 0.1)
    amn = GeneratorConfig(width=8, residual_blocks=1)
    sagan = SimpleNamespace(G=SaganGenerator(3, amn, SanConfig(width=8, residual_blocks=1), True))
    bench.with_settings(sagan, 0.25, 0.2)
    assert (sagan.G.amn.cfg.content_blur, sagan.G.amn.cfg.mask_floor) == (0.25, 0.2)
    assert amn.mask_floor == 0  # the config the network was built from is not changed in place


def test_on_several_datasets_a_pair_must_pass_on_each_and_the_mean_share_decides(bench):
    def scored(data, blur, floor, e1, e2, closer):
        return {"data": data, **row(blur, floor, e1, e2, closer)}

    mild = bench.combined([scored("sf64", 0.5, 0.1, 0.93, 0.92, 0.64), scored("s50", 0.5, 0.1, 0.92, 0.91, 0.62)])
    strong = bench.combined([scored("sf64", 0.5, 0.2, 0.92, 0.91, 0.66), scored("s50", 0.5, 0.2, 0.89, 0.91, 0.65)])
    assert mild["closer"] == pytest.approx(0.63)
    assert set(mild["relative_success"]) == {"sf64 E1", "sf64 E2", "s50 E1", "s50 E2"}
    # strong passes on sf64 alone but not on s50 (E1 0.89): the pair that passes on both is chosen
    assert bench.choose([mild, strong], 0.9) is mild
    assert bench.choose([strong], 0.9) is None
