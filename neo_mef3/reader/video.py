"""Video channels as a Reader reports them: metadata and clip index of each segment.

Nothing here touches the time series: a video channel is read only when asked for
(``Reader.video``), and its damage raises (or, with ``on_error="skip"``, is skipped)
there alone.
"""

import os

from ..errors import MefError, PasswordError
from ..format import headers, layout, times, video
from ..format.layout import text
from ..session import segment_folders


def video_channel(source, tree, name, keyring, skips, where):
    """``{"name", "segments": [...]}`` of video channel `name` (see Reader.video)."""
    if name not in tree.video_dirs:
        raise MefError(f"no video channel {name!r} in the session (video channels: "
                       f"{', '.join(sorted(tree.video_dirs)) or 'none'})", where)
    directory = tree.video_dirs[name]
    out = {"name": name, "directory": directory, "segments": []}
    for sf in segment_folders(directory, name):
        stem = sf.tmet[: -len(layout.TMET)]
        vmet, vidx = stem + layout.VMET, stem + layout.VIDX
        try:
            out["segments"].append(_segment(source, sf, vmet, vidx, keyring))
        except MefError as exc:
            if not skips.enabled or isinstance(exc, PasswordError):
                raise
            skips.skip("video segment", sf.directory, exc)
    return out


def _segment(source, sf, vmet, vidx, keyring):
    raw = source.read_file(vmet, "video metadata", layout.METADATA_FILE_BYTES)
    uh = headers.parse_universal_header(raw, vmet, layout.VMET)
    keys = keyring.known(raw) or keyring.for_header(uh, vmet)
    record, _, s3 = video.parse_video_metadata(raw, vmet, keys=keys)
    s2 = record["section_2"]
    rto = int(record["section_3"]["recording_time_offset"]) if s3 else 0
    clips = video.parse_video_index(source.read_file(vidx, "video index"), vidx)
    for key in ("start_time", "end_time"):  # (stored times, de-negated with the offset)
        clips[key] = times.to_uutc_array(clips[key], rto)
    files = []
    if os.path.isdir(sf.directory):  # the video files themselves (a local session)
        files = sorted(os.path.join(sf.directory, f) for f in os.listdir(sf.directory)
                       if not f.endswith((layout.VMET, layout.VIDX, layout.RDAT, layout.RIDX)))
    return {
        "segment": sf.number,
        "path": sf.directory,
        "start_time": times.to_uutc(uh["start_time"], rto),
        "end_time": times.to_uutc(uh["end_time"], rto),
        "horizontal_resolution": int(s2["horizontal_resolution"]),
        "vertical_resolution": int(s2["vertical_resolution"]),
        "frame_rate": float(s2["frame_rate"]),
        "number_of_clips": int(s2["number_of_clips"]),
        "maximum_clip_bytes": int(s2["maximum_clip_bytes"]),
        "video_format": text(s2["video_format"]),
        "channel_description": text(s2["channel_description"]),
        "section3_available": s3,
        "clips": clips,
        "files": files,
    }

