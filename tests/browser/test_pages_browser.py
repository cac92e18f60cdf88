"""Movies in the browser: the curation page plays and seeks in the recording's movie (served in byte ranges); a
recording's page, opened from the results folder (file://), loads its figures and movies (selenium, headless
Chromium; skipped without it)."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from ace_neuro.curate import CurationServer, open_results
from ace_neuro.pages.recording import Figure, write_recording_page

from helpers.curate_results import chromium_fixture, write_movie, write_results

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"),
    reason="needs Debian's chromium and chromedriver (apt-get install -y chromium chromium-driver)",
)

browser = chromium_fixture(1400, 1000)

_STATE = "const v = arguments[0]; return [v.readyState, v.currentTime, v.duration, " \
         "v.seekable.length ? v.seekable.end(0) : 0, v.error ? v.error.code : 0];"


def test_curation_page_plays_and_seeks_in_the_recording_movie(tmp_path, browser, caplog):
    caplog.set_level(logging.DEBUG, logger="ace_neuro.curate.server")  # the server's request lines
    results = write_results(tmp_path / "results" / "rec1")
    write_movie(results / "movies" / "neural_activity.mp4", n_frames=60)  # 3 s at 20 Hz
    with CurationServer(open_results(results, tmp_path / "decisions.yaml"), on_message=lambda m: None).start() as server:
        browser.get(server.url)
        wait = WebDriverWait(browser, 20)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready='true']")))
        assert browser.execute_script("return window.scrollY") == 0  # the player does not move the page
        video = browser.find_element(By.ID, "movie")
        assert video.get_attribute("data-movie") == "neural_activity"
        browser.execute_script("arguments[0].scrollIntoView(); arguments[0].play();", video)
        wait.until(lambda driver: driver.execute_script(_STATE, video)[1] > 0.3)
        ready, _, duration, seekable, error = browser.execute_script(_STATE, video)
        assert ready >= 2 and error == 0 and duration == pytest.approx(3.0, abs=0.15)
        assert seekable == pytest.approx(duration, abs=0.05)  # byte ranges: the whole movie is seekable
        browser.execute_script("arguments[0].pause(); arguments[0].currentTime = 2.5;", video)
        wait.until(lambda driver: driver.execute_script("return !arguments[0].seeking", video))
        assert browser.execute_script(_STATE, video)[1] == pytest.approx(2.5, abs=0.1)
        browser.get("about:blank")
    # Chromium asked for the movie in byte ranges and got them (206), which is what lets it seek in a long movie
    served = [r.getMessage() for r in caplog.records if "/api/movie/neural_activity.mp4" in r.getMessage()]
    assert served and all('" 206 ' in line for line in served), served


def test_recording_page_loads_its_figures_and_movies_from_the_folder(tmp_path, browser):
    import cv2

    folder = tmp_path / "results" / "rec 1"
    (folder / "motion").mkdir(parents=True)
    cv2.imwrite(str(folder / "motion" / "shifts.png"), np.full((30, 40, 3), 128, np.uint8))
    figures = [Figure(str(folder / "motion" / "shifts.png"), "shifts", "Motion correction", "<p>Shifts.</p>")]
    for name in ("neural_activity", "background"):
        figures.append(Figure(str(write_movie(folder / "movies" / f"{name}.mp4")), name, "Movies", "<p>A movie.</p>"))
    page = write_recording_page("rec 1", {"frames": 40}, figures, folder / "summary.html")
    browser.get(page.as_uri())
    wait = WebDriverWait(browser, 20)
    videos = browser.find_elements(By.TAG_NAME, "video")
    assert len(videos) == 2
    for video in videos:
        wait.until(lambda driver, v=video: driver.execute_script(_STATE, v)[0] >= 1)  # metadata loaded
        assert browser.execute_script(_STATE, video)[2] == pytest.approx(2.0, abs=0.15)
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 1
    wait.until(lambda driver: driver.execute_script("return arguments[0].complete", images[0]))
    assert browser.execute_script("return arguments[0].naturalWidth", images[0]) == 40
    browser.get("about:blank")
