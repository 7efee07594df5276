"""``neo-mef3 demo``: write a small session, read it back, then read the example session
shipped inside the package, so a new user sees the library work before they have a
recording of their own."""

import os

import numpy as np

from ..errors import MefError
from ..reader import Reader
from .common import add_command
from .summary import summarize

from .. import EXAMPLE_SESSION  # noqa: E402


def register(sub):
    p = add_command(sub, "demo", "read (and write) an example session", ["neo-mef3 demo"],
                    description="Write a small session, read it back, and read the example session shipped "
                                "with the package.")
    p.set_defaults(func=run)


def _demo_signal(n, fs, rng):
    """A plausible iEEG trace in uV: 1/f background plus a waxing and waning 10 Hz rhythm."""
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n)
    pink *= 30.0 / pink.std()
    t = np.arange(n) / fs
    return pink + 20.0 * np.sin(2 * np.pi * 10 * t) * (1 + np.sin(2 * np.pi * 0.1 * t))


def write_demo_session(path):
    """Write a small session with the native Writer; return what was written, per channel."""
    from ..writer import Writer

    rng = np.random.default_rng(2024)
    start = 1_700_000_000_000_000
    written = {}
    with Writer(path, overwrite=True) as w:
        for name, fs in (("LA1", 1024.0), ("LA2", 1024.0), ("ECG", 250.0)):
            x = np.round(_demo_signal(int(30 * fs), fs, rng), 2)
            if name == "LA2":
                x[int(12 * fs) : int(14 * fs)] = np.nan  # two seconds of lost data
            w.write(name, x, start, fs, precision=2)
            written[name] = x
        w.write_annotations(
            [
                {"time": start + 1_000_000, "type": "Note", "text": "demo recording starts"},
                {"time": start + 20_000_000, "type": "EDFA", "text": "stimulus", "duration": 2_000_000},
            ]
        )
        w.write_annotations([{"time": start + 12_000_000, "text": "LA2 disconnected"}], channel="LA2")
    return start, written


def run(args):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "demo.mefd")
        print("neo_mef3 demo 1/2: write a session with the native Writer, read it back\n")
        start, written = write_demo_session(path)
        summarize(path)
        with Reader(path) as r:
            for name, x in written.items():
                back = r.read(name, start, start + int(round(len(x) * 1e6 / r.info(name)["sampling_frequency"])))
                same = np.array_equal(np.round(back, 2), x, equal_nan=True)
                print(f"  read-back {name}: {len(back)} values, identical to what was written: {same}")
                if not same:
                    raise MefError(f"demo read-back of {name} differs from what was written", path)
    print("\nneo_mef3 demo 2/2: read the example session shipped with the package (written by meflib)\n")
    summarize(EXAMPLE_SESSION)
    return 0
