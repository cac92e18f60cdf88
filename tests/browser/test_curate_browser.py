"""The curation page in a real browser: Debian's chromium and chromedriver, driven headless by selenium.

Skipped (with the reason) when selenium, chromium or chromedriver is missing;
install them with ``apt-get install -y chromium chromium-driver`` and
``pip install -e '.[test]'``.
"""

from __future__ import annotations

import shutil

import pytest

from ace_neuro.cnmfe.evaluate import read_curation_file
from ace_neuro.curate import CurationServer, open_results
from ace_neuro.preprocess import crop_slices, parse_crop_coords

from helpers.curate_results import H, W, chromium_fixture, write_results

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromedriver (apt-get install -y chromium chromium-driver)",
)


browser = chromium_fixture(1400, 1100)


@pytest.fixture()
def page(tmp_path, browser):
    results = write_results(tmp_path / "results" / "rec1")
    curation = tmp_path / "curation" / "rec1.csv"
    messages: list[str] = []
    server = CurationServer(open_results(results, curation), on_message=messages.append).start()
    browser.get(server.url)
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready='true']")))
    yield browser, wait, curation, messages
    # leave the page without the "unsaved changes" prompt, then stop the server
    browser.execute_script("window.onbeforeunload = null;")
    browser.get("about:blank")
    server.close()


def _select(browser, wait, element_id: str, component: int) -> None:
    browser.find_element(By.ID, element_id).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "sel-id"), str(component)))


def test_reject_accept_by_click_and_save(page):
    browser, wait, curation, messages = page
    components = browser.find_elements(By.CSS_SELECTOR, "#view-correlation g.comp")
    assert len(components) == 7  # every component drawn over the correlation image
    assert {e.get_attribute("id") for e in browser.find_elements(By.CSS_SELECTOR, "figure.view svg")} == {
        "view-correlation", "view-mean", "crop"}
    assert "rejected" in browser.find_element(By.ID, "comp-correlation-6").get_attribute("class")

    _select(browser, wait, "outline-correlation-2", 2)  # an accepted neuron: reject it
    browser.find_element(By.ID, "reject").click()
    _select(browser, wait, "outline-mean-6", 6)  # the false component: accept it
    browser.find_element(By.ID, "accept").click()
    assert "rejected" in browser.find_element(By.ID, "comp-mean-2").get_attribute("class")
    assert "accepted" in browser.find_element(By.ID, "comp-correlation-6").get_attribute("class")
    assert browser.find_element(By.ID, "unsaved").is_displayed()
    # the selected component's trace (raw and denoised) and footprint are drawn
    wait.until(lambda driver: driver.find_element(By.ID, "detail").get_attribute("data-component") == "6")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trace polyline")) == 2
    assert browser.find_element(By.ID, "sel-snr").text.startswith("0.")

    browser.find_element(By.ID, "save").click()
    wait.until(lambda driver: driver.find_element(By.ID, "status").get_attribute("data-saved"))
    assert curation.read_text() == "component,decision\n2,reject\n6,accept\n"
    assert read_curation_file(curation, 7) == {2: False, 6: True}
    status = browser.find_element(By.ID, "status").text
    assert "snakemake --cores all" in status and str(curation) in status
    assert messages and "snakemake --cores all" in messages[-1]
    assert not browser.find_elements(By.ID, "unsaved")


def test_keys_and_reopening_keeps_the_decisions(page, tmp_path):
    browser, wait, curation, _ = page
    browser.find_element(By.ID, "row-3").click()  # select from the table, decide with keys
    wait.until(ec.text_to_be_present_in_element((By.ID, "sel-id"), "3"))
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys("r")
    body.send_keys("n")  # next component: 4
    wait.until(ec.text_to_be_present_in_element((By.ID, "sel-id"), "4"))
    body.send_keys("r")
    body.send_keys("u")  # back to the automatic decision: 4 is not written
    body.send_keys("s")
    wait.until(lambda driver: driver.find_element(By.ID, "status").get_attribute("data-saved"))
    assert read_curation_file(curation, 7) == {3: False}
    # a second session on the same file starts from its decisions
    assert open_results(tmp_path / "results" / "rec1", curation).manual == {3: False}


def test_crop_box_in_the_seed_convention(page):
    browser, wait, curation, _ = page
    crop = browser.find_element(By.ID, "crop")
    browser.execute_script("arguments[0].scrollIntoView();", crop)
    size = crop.size
    # drag from 1/4 to 3/4 of the image (offsets are from the element's centre)
    ActionChains(browser).move_to_element_with_offset(crop, -size["width"] // 4, -size["height"] // 4) \
        .click_and_hold().move_by_offset(size["width"] // 2, size["height"] // 2).release().perform()
    value = browser.find_element(By.ID, "crop-value").text
    coords = parse_crop_coords(value)
    rows, cols = crop_slices(coords, (H, W))
    # the box kept is the middle half of the frame, within the rounding to whole pixels
    assert abs(rows.start - H / 4) <= 1.5 and abs(rows.stop - 3 * H / 4) <= 1.5
    assert abs(cols.start - W / 4) <= 1.5 and abs(cols.stop - 3 * W / 4) <= 1.5
    browser.find_element(By.ID, "crop-save").click()
    # the page reports once the server has answered, after the file is in place
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"crop_coords {value}"))
    crop_file = curation.with_name("rec1_crop.csv")
    assert crop_file.read_text() == f'id,crop,crop_coords\nrec1,TRUE,"{value}"\n'

