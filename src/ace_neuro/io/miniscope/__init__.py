"""Read UCLA Miniscope recordings (V4 and V3 folders) frame by frame.

V4 (Miniscope DAQ software)::

    <session>/metaData.json               session metadata (researcher, animal, start time, devices)
    <session>/<Miniscope>/0.avi, 1.avi..  FFV1 or GREY 8-bit video, ``framesPerFile`` frames each
    <session>/<Miniscope>/metaData.json   device metadata (deviceType, frameRate "20FPS", ROI, gain, ...)
    <session>/<Miniscope>/timeStamps.csv  "Frame Number,Time Stamp (ms),Buffer Index"[,"DAQ Frame Number"...]

V3::

    <session>/msCam1.avi, msCam2.avi, ... usually uncompressed, 1000 frames each (numbered from 1)
    <session>/timestamp.dat               tab-separated camNum, frameNum, sysClock (ms), buffer

Every problem with a folder raises :class:`RecordingError` naming the file and
saying what to do. Frames are decoded with OpenCV (opencv-python-headless
decodes FFV1 losslessly) and yielded in chunks, never all at once.

Modules: :mod:`.recording` (find, check and decode a recording of either layout), :mod:`.v4` and :mod:`.v3`
(each layout's folders, video names, time stamps and metadata), :mod:`.common` (what both share: the
:class:`Recording`, its error, frame-rate and file-selection parsing, dropped-frame detection, video headers).
"""

from .common import (
    Recording,
    RecordingError,
    detect_dropped_frames,
    natural_key,
    parse_filenames,
    parse_frame_rate,
    select_video_files,
)
from .recording import iter_file_frames, iter_frames, open_recording, recording_files

__all__ = [
    "RecordingError",
    "Recording",
    "open_recording",
    "natural_key",
    "parse_frame_rate",
    "detect_dropped_frames",
    "iter_frames",
    "iter_file_frames",
    "recording_files",
    "parse_filenames",
    "select_video_files",
]
