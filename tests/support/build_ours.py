"""Sessions written by our own Writer, for the damage, fuzz and concurrency runs."""

import numpy as np

from support.scenarios import T0


def build_writer_session(path, password1="", password2="", seed=7):
    """A small but varied session from neo_mef3.Writer: three rates, NaN gaps, two
    segments, an in-segment append by a second Writer, session and channel records."""
    import neo_mef3

    rng = np.random.default_rng(seed)

    def sig(n):
        return np.round(np.cumsum(rng.normal(0, 3, n)), 2)

    kw = dict(password1=password1, password2=password2)
    with neo_mef3.Writer(path, overwrite=True, block_length=200, **kw) as w:
        a = sig(1500)
        a[400:650] = np.nan
        w.write("A", a, T0, 100.0)
        w.write_int32("B", rng.integers(-30000, 30000, 1200), 0.25, T0 + 3_000, 256.0)
        w.write("C", sig(700), T0, 50.0)
        w.write("C", sig(300), T0 + 20_000_000, 50.0, new_segment=True)
        w.write_annotations([{"time": T0 + 1_000_000, "text": "session note"},
                             {"time": T0 + 2_000_000, "type": "EDFA", "text": "event", "duration": 500_000}])
        w.write_annotations([{"time": T0 + 3_000_000, "text": "channel note"}], channel="A")
    with neo_mef3.Writer(path, password2=password2) as w:  # an append by a new Writer
        w.write("A", sig(500), T0 + 15_000_000, 100.0)
    return path
