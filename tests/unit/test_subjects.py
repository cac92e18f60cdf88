"""A subject's sessions from the sample sheet: grouping by subject and fov, order by start time, bad cells."""

import json

import pytest

from ace_neuro.sheet import SheetError, load_sheet
from ace_neuro.subjects import SubjectError, start_time_ms, subject_groups


def _session(folder, msec=None, fields=None):
    folder.mkdir(parents=True)
    start = {}
    if msec is not None:
        start["msecSinceEpoch"] = msec
    if fields is not None:
        start.update(fields)
    (folder / "metaData.json").write_text(json.dumps({"recordingStartTime": start} if start else {}))
    return folder


def _sheet(tmp_path, rows, header="id,calcium imaging directory,subject,fov"):
    path = tmp_path / "experiments.csv"
    path.write_text("\n".join([header] + rows) + "\n")
    return load_sheet(path)


def test_groups_ordered_by_start_time(tmp_path):
    a = _session(tmp_path / "a", msec=3_000)
    b = _session(tmp_path / "b", fields={"year": 1970, "month": 1, "day": 1, "hour": 0, "minute": 0, "second": 1})
    c = _session(tmp_path / "c", msec=2_000)
    d = _session(tmp_path / "d", msec=1_000)
    sheet = _sheet(tmp_path, [f"late,{a},m1,", f"first,{b},m1,", f"mid,{c},m1,", f"alone,{d},m2,", f"nosubject,{d},,"])
    groups = subject_groups(sheet)
    assert list(groups) == ["m1"]  # m2 has one session, the last row none
    assert groups["m1"].sessions == ("first", "mid", "late")
    assert groups["m1"].start_ms == (1000.0, 2000.0, 3000.0)
    assert groups["m1"].notes == ()


def test_fov_makes_its_own_group(tmp_path):
    folders = [_session(tmp_path / str(i), msec=i) for i in range(4)]
    sheet = _sheet(tmp_path, [f"r{i},{f},m1,{'left' if i < 2 else 'right'}" for i, f in enumerate(folders)])
    groups = subject_groups(sheet)
    assert sorted(groups) == ["m1-left", "m1-right"]
    assert groups["m1-right"].sessions == ("r2", "r3") and groups["m1-right"].fov == "right"


def test_missing_start_time_keeps_the_sheet_order_and_says_so(tmp_path):
    a = _session(tmp_path / "a", msec=5)
    b = _session(tmp_path / "b")
    groups = subject_groups(_sheet(tmp_path, [f"x,{a},m1,", f"y,{b},m1,"]))
    assert groups["m1"].sessions == ("x", "y")
    assert "y" in groups["m1"].notes[0] and "sheet's order" in groups["m1"].notes[0]
    assert start_time_ms(b) is None and start_time_ms(tmp_path / "nowhere") is None
    assert start_time_ms(a / "Miniscope") == 5.0  # the device folder given as the directory


def test_bad_subject_cells(tmp_path):
    a = _session(tmp_path / "a", msec=1)
    with pytest.raises(SubjectError, match="line 2.*'fov' is 'left' but 'subject' is empty"):
        subject_groups(_sheet(tmp_path, [f"x,{a},,left"]))
    with pytest.raises(SubjectError, match="subject 'm 1' has characters"):
        subject_groups(_sheet(tmp_path, [f"x,{a},m 1,", f"y,{a},m 1,"]))
    # a misspelt grouping column is an unknown column, named with the nearest known one
    with pytest.raises(SheetError, match="subjet.*subject"):
        _sheet(tmp_path, [f"x,{a},m1"], header="id,calcium imaging directory,subjet")


def test_register_parameters_are_the_tracking_options():
    from ace_neuro.params import options_class
    from ace_neuro.stages import register
    from ace_neuro.tracking import TrackingOptions

    assert register.OPTIONS is TrackingOptions is options_class("register")
