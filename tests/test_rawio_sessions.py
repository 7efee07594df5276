"""The extra fixture sessions of the neo / SpikeInterface tests (``support.neo_sessions``)
build with every writer that can write them and open in our Reader."""

from support.neo_sessions import EXTRA, WRITERS, can_build, scenario


def test_extra_scenarios_build(mef_sessions):
    import neo_mef3

    for name in EXTRA:
        for writer in WRITERS:
            if not can_build(name, writer):
                continue
            with neo_mef3.Reader(mef_sessions(name, writer)) as r:
                assert r.channels == sorted(c.name for c in scenario(name).channels)
