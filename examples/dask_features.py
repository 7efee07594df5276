"""Per-minute line length and band power of every channel of a session, on Dask.

    pip install "neo_mef3[dask]" matplotlib
    python dask_features.py                       # makes a 2-hour, 8-channel demo session
    python dask_features.py SESSION.mefd --password-env MEF_PASSWORD --band 8 13
    python dask_features.py SESSION.mefd --scheduler tcp://scheduler:8786   # a real cluster

The session becomes one lazy (channels, samples) array (``neo_mef3.dask.to_dask``) in
chunks of whole minutes; each chunk is decoded on a worker, reduced there to one value
per minute and channel, and only those values travel back. Without ``--scheduler`` a
LocalCluster of ``--workers`` processes runs it. The result is drawn as two heat maps
(channels x minutes) into ``--out`` (a PNG). docs/scale.md runs it on SLURM and Kubernetes.
"""

import argparse
import os
import time

import numpy as np

FEATURE_MINUTES = 10  # minutes per chunk: a chunk is reduced to that many values per channel


def line_length(rows):
    """Sum of absolute differences of each row, gaps (NaN) left out; NaN for a row of gap."""
    total = np.nansum(np.abs(np.diff(rows, axis=-1)), axis=-1)
    return np.where(np.isnan(rows).all(axis=-1), np.nan, total)


def band_power(rows, fs, band):
    """Mean power in ``band`` (Hz) of each row from its periodogram (NaN if the row has a gap)."""
    rows = rows - rows.mean(axis=-1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(rows, axis=-1)) ** 2 / (fs * rows.shape[-1])
    freqs = np.fft.rfftfreq(rows.shape[-1], 1.0 / fs)
    inside = (freqs >= band[0]) & (freqs < band[1])
    return 2 * spectrum[..., inside].mean(axis=-1)


def per_minute(block, fs, band):
    """(channels, k minutes) of a chunk -> (2, channels, k): line length and band power."""
    minute = int(round(60 * fs))
    k = block.shape[1] // minute
    rows = block[:, : k * minute].reshape(block.shape[0], k, minute)
    return np.stack([line_length(rows), band_power(rows, fs, band)])


def features(x, fs, band):
    """Lazy (2, channels, minutes) features of a lazy array whose chunks are whole minutes."""
    minute = int(round(60 * fs))
    out_chunks = ((2,), x.chunks[0], tuple(c // minute for c in x.chunks[1]))
    return x.map_blocks(per_minute, fs, band, new_axis=0, chunks=out_chunks, dtype=np.float64)


def demo_session(path, hours=2.0, channels=8, fs=256.0):
    """An iEEG-like session written with neo_mef3's Writer: noise, an alpha rhythm that
    comes and goes, a burst of fast activity, and a 5-minute gap in one channel."""
    import neo_mef3

    rng = np.random.default_rng(0)
    n = int(hours * 3600 * fs)
    t = np.arange(n) / fs
    t0 = 1_700_000_000_000_000
    with neo_mef3.Writer(path, overwrite=True, block_length=int(10 * fs)) as w:
        for c in range(channels):
            envelope = 0.5 + 0.5 * np.sin(2 * np.pi * t / (1800 + 300 * c))
            x = rng.normal(0, 20, n) + 30 * envelope * np.sin(2 * np.pi * 10 * t + c)
            burst = slice(int((0.3 + 0.05 * c) * n), int((0.3 + 0.05 * c) * n + 120 * fs))
            x[burst] += 60 * rng.standard_normal(burst.stop - burst.start)
            if c == 2:
                x[int(0.6 * n) : int(0.6 * n + 300 * fs)] = np.nan
            w.write(f"ch{c + 1:02d}", np.round(x, 1), t0, fs, precision=1)
    return path


def plot(values, channels, out, band):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    titles = ["line length per minute", f"{band[0]:g}-{band[1]:g} Hz power per minute"]
    for ax, v, title in zip(axes, values, titles):
        im = ax.imshow(v, aspect="auto", interpolation="nearest", cmap="viridis")
        ax.set_yticks(range(len(channels)))
        ax.set_yticklabels(channels, fontsize=7)
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    axes[-1].set_xlabel("minute")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("session", nargs="?", help="a .mefd session (default: make a demo session)")
    ap.add_argument("--password-env", help="environment variable holding the password (read on each worker)")
    ap.add_argument("--band", nargs=2, type=float, default=(8.0, 13.0), help="band of the power feature, Hz")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler instead of a LocalCluster")
    ap.add_argument("--out", default="dask_features.png", help="the plot (PNG)")
    args = ap.parse_args(argv)

    from distributed import Client, LocalCluster, progress

    from neo_mef3.dask import EnvPassword, to_dask_groups

    path = args.session or demo_session(os.path.abspath("dask_features_demo.mefd"))
    password = EnvPassword(args.password_env) if args.password_env else None
    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        import dask

        # workers that keep freed memory for the next task: the feature temporaries are
        # large arrays, which dask's default MALLOC_TRIM_THRESHOLD_ makes fresh pages
        # each time (about 1.3x slower here; docs/scale.md)
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, host="127.0.0.1")
        client = Client(cluster)
    try:
        start = time.perf_counter()
        groups = to_dask_groups(path, password=password, chunk_seconds=FEATURE_MINUTES * 60)
        lazy = {fs: features(g.data, fs, args.band) for fs, g in groups.items()}
        futures = client.compute(list(lazy.values()))
        progress(futures)  # Dask's progress bar
        print()
        results = dict(zip(lazy, client.gather(futures)))
        seconds = time.perf_counter() - start
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    fs = max(groups, key=lambda f: len(groups[f].channels))  # the plot shows the largest rate group
    g, values = groups[fs], results[fs]
    samples = sum(gr.data.shape[0] * gr.data.shape[1] for gr in groups.values())
    print(f"{path}: {samples / 1e6:.1f} M samples in {seconds:.1f} s ({samples / 1e6 / seconds:.1f} M samples/s); "
          f"{values.shape[2]} minutes x {len(g.channels)} channels at {fs:g} Hz")
    plot(values, g.channels, args.out, args.band)
    print(f"plot: {os.path.abspath(args.out)}")
    return values


if __name__ == "__main__":
    main()
