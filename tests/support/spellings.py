"""Segment folders as other writers spell them (``ch1-0.segd`` for MEF's ``ch1-000000.segd``)."""
import os


def respell(channel_dir, channel, number, digits):
    """Rename segment `number`'s folder and files to `digits` (as another writer names them)."""
    old = f"{channel}-{number:06d}"
    new = f"{channel}-{digits}"
    os.rename(os.path.join(channel_dir, old + ".segd"), os.path.join(channel_dir, new + ".segd"))
    folder = os.path.join(channel_dir, new + ".segd")
    for f in os.listdir(folder):
        os.rename(os.path.join(folder, f), os.path.join(folder, f.replace(old, new)))
