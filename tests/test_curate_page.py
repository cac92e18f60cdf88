"""The curation page at 1400 x 1000 in headless Chromium: no scroll jump, reasons in words, sort, filter, undo,
zoom and pan, the clip of the selected component, merge and split (selenium; skipped without chromium)."""

from __future__ import annotations

import shutil

import pytest

from ace_neuro.cnmfe.evaluate import read_curation_file
from ace_neuro.curate import CurationServer, open_results

from curate_results import grid_centres, start_chromium, write_results

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"),
    reason="needs Debian's chromium and chromedriver (apt-get install -y chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A results folder with more components than the table shows at once."""
    return write_results(tmp_path_factory.mktemp("many") / "rec1", centres=grid_centres())


@pytest.fixture(scope="module")
def browser():
    driver, profile = start_chromium(1400, 1000)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(many, browser, tmp_path):
    curation = tmp_path / "decisions.yaml"
    server = CurationServer(open_results(many, curation), on_message=lambda message: None).start()
    browser.get(server.url)
    wait = WebDriverWait(browser, 20)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready='true']")))
    yield browser, wait, curation
    browser.execute_script("window.onbeforeunload = null;")
    browser.get("about:blank")
    server.close()


def _in_view(browser, element_id):
    """Whether the element's box lies inside the window."""
    return browser.execute_script(
        "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth && r.height > 0;",
        element_id)


def _selected(browser, wait, component):
    wait.until(ec.text_to_be_present_in_element((By.ID, "sel-id"), str(component)))


def test_the_page_never_scrolls_itself(page):
    browser, wait, _ = page
    n_rows = len(browser.find_elements(By.CSS_SELECTOR, "#components tbody tr"))
    assert n_rows > 40
    box_height = browser.execute_script("return document.getElementById('table-box').clientHeight")
    row_height = browser.execute_script("return document.getElementById('row-0').offsetHeight")
    assert n_rows * row_height > box_height  # the table is longer than its box
    checked = ("save", "recording", "view-correlation", "view-mean", "sel-id", "sel-reason", "footprint", "trace")

    def check(after):
        assert browser.execute_script("return window.scrollY") == 0, after
        for element_id in checked:
            assert _in_view(browser, element_id), f"{element_id} out of view after {after}"

    check("load")
    body = browser.find_element(By.TAG_NAME, "body")
    for _ in range(3):  # keys move down the table, past its box's bottom
        for _ in range(15):
            body.send_keys("n")
        check("keys")
    _selected(browser, wait, 45)
    row = browser.find_element(By.ID, "row-45")
    assert _in_view(browser, "row-45")  # the table's box scrolled to the selected row
    assert browser.execute_script("return document.getElementById('table-box').scrollTop") > 0
    browser.find_element(By.ID, "outline-mean-3").click()  # an outline
    _selected(browser, wait, 3)
    check("an outline click")
    assert _in_view(browser, "row-3")
    browser.execute_script("arguments[0].click()", row)  # a row
    _selected(browser, wait, 45)
    check("a row click")


def test_every_decision_says_why(page):
    browser, wait, _ = page
    data_reasons = browser.execute_script("return state.summary.components.map((c) => c.reason)")
    assert all(reason.startswith(("accepted: ", "rejected: ")) for reason in data_reasons)
    junk = len(data_reasons) - 1  # the false component: rejected by the SNR / r-value rule
    browser.execute_script(f"select({junk})")
    _selected(browser, wait, junk)
    reason = browser.find_element(By.ID, "sel-reason").text
    assert reason.startswith("rejected: SNR ") and "<= min_SNR 3" in reason and "rval_thr 0.85" in reason
    assert browser.find_element(By.CSS_SELECTOR, f"#row-{junk} td.text").text == reason
    browser.find_element(By.TAG_NAME, "body").send_keys("a")
    assert browser.find_element(By.ID, "sel-reason").text.startswith("accepted by you; automatic: rejected: SNR")
