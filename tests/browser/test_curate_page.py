"""The curation page at 1400 x 1000 in headless Chromium: no scroll jump, reasons in words, sort, filter, undo,
zoom and pan, the clip of the selected component, merge and split (selenium; skipped without chromium)."""

from __future__ import annotations

import shutil

import pytest

from ace_neuro.cnmfe.evaluate import read_curation_file
from ace_neuro.curate import CurationServer, open_results

from helpers.curate_results import chromium_fixture, grid_centres, write_results

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
    return write_results(tmp_path_factory.mktemp("many") / "rec1", centres=grid_centres(), with_movie=True)


browser = chromium_fixture(1400, 1000)


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


def _choose(browser, wait, component):
    """Select a component as a click would, and wait until the panel shows it."""
    browser.execute_script(f"select({component})")
    _selected(browser, wait, component)


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
    _choose(browser, wait, junk)
    reason = browser.find_element(By.ID, "sel-reason").text
    assert reason.startswith("rejected: SNR ") and "<= min_SNR 3" in reason and "rval_thr 0.85" in reason
    assert browser.find_element(By.CSS_SELECTOR, f"#row-{junk} td.text").text == reason
    browser.find_element(By.TAG_NAME, "body").send_keys("a")
    assert browser.find_element(By.ID, "sel-reason").text.startswith("accepted by you; automatic: rejected: SNR")


def _column(browser, index):
    return [row.find_elements(By.TAG_NAME, "td")[index].text
            for row in browser.find_elements(By.CSS_SELECTOR, "#components tbody tr") if row.is_displayed()]


def test_sort_and_filter_the_table(page):
    browser, wait, _ = page
    browser.find_element(By.CSS_SELECTOR, "th[data-key='snr']").click()  # SNR, largest first
    snr = [float(v) for v in _column(browser, 1)]
    assert snr == sorted(snr, reverse=True) and snr[0] > snr[-1]
    browser.find_element(By.CSS_SELECTOR, "th[data-key='snr']").click()  # again: smallest first
    assert [float(v) for v in _column(browser, 1)] == sorted(snr)
    assert browser.find_element(By.CSS_SELECTOR, "th[data-key='snr']").get_attribute("aria-sort") == "ascending"
    # n follows the table's order: the next row is the next smallest SNR
    first, second = (int(v) for v in _column(browser, 0)[:2])
    _choose(browser, wait, first)
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    _selected(browser, wait, second)
    # filters
    total = len(_column(browser, 0))
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "filter")).select_by_value("rejected")
    assert set(_column(browser, 4)) == {"reject"} and 0 < len(_column(browser, 0)) < total
    Select(browser.find_element(By.ID, "filter")).select_by_value("accepted")
    assert set(_column(browser, 4)) == {"accept"}
    Select(browser.find_element(By.ID, "filter")).select_by_value("all")
    browser.find_element(By.ID, "filter-text").send_keys("SNR_lowest")
    shown = _column(browser, 6)
    assert shown and all("SNR_lowest" in text for text in shown) and len(shown) < total
    assert browser.execute_script("return window.scrollY") == 0


def test_undo_history(page):
    browser, wait, curation = page
    body = browser.find_element(By.TAG_NAME, "body")
    _choose(browser, wait, 0)
    body.send_keys("r")  # 0 rejected
    body.send_keys("n")
    _selected(browser, wait, 1)
    body.send_keys("r")  # 1 rejected
    body.send_keys("a")  # 1 accepted
    assert browser.execute_script("return [...state.manual]") == [[0, False], [1, True]]
    body.send_keys(Keys.CONTROL, "z")  # 1 back to rejected
    assert browser.execute_script("return [...state.manual]") == [[0, False], [1, False]]
    body.send_keys(Keys.CONTROL, "z")  # 1 undecided
    assert browser.execute_script("return [...state.manual]") == [[0, False]]
    assert "accepted" in browser.find_element(By.ID, "comp-mean-1").get_attribute("class")
    body.send_keys(Keys.CONTROL, "z")  # nothing left
    assert browser.execute_script("return state.manual.size") == 0
    assert browser.find_element(By.ID, "undo").get_attribute("disabled")
    assert not browser.find_elements(By.ID, "unsaved")  # back to what is saved
    body.send_keys("s")
    wait.until(lambda driver: driver.find_element(By.ID, "status").get_attribute("data-saved"))
    assert read_curation_file(curation, 57) == {}


def test_zoom_and_pan_the_images(page):
    from selenium.webdriver.common.action_chains import ActionChains

    browser, wait, _ = page
    svg = browser.find_element(By.ID, "view-mean")
    full = [float(v) for v in svg.get_dom_attribute("viewBox").split()]
    ActionChains(browser).scroll_to_element(svg).perform()
    for _ in range(3):  # the wheel over the image zooms in, the page does not scroll
        browser.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "arguments[0].dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: r.left + r.width / 2,"
            " clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));", svg)
    zoomed = [float(v) for v in svg.get_dom_attribute("viewBox").split()]
    assert zoomed[2] < full[2] * 0.6 and zoomed[3] < full[3] * 0.6
    assert browser.find_element(By.ID, "view-correlation").get_dom_attribute("viewBox") == svg.get_dom_attribute("viewBox")
    ActionChains(browser).move_to_element(svg).click_and_hold().move_by_offset(60, 40).release().perform()
    panned = [float(v) for v in svg.get_dom_attribute("viewBox").split()]
    assert panned[0] < zoomed[0] and panned[1] < zoomed[1] and panned[2:] == zoomed[2:]  # dragged right and down
    assert browser.execute_script("return window.scrollY") == 0
    browser.find_element(By.TAG_NAME, "body").send_keys("0")
    assert [float(v) for v in svg.get_dom_attribute("viewBox").split()] == full


def test_the_selected_component_plays_its_clip(page):
    browser, wait, _ = page
    _choose(browser, wait, 2)
    video = browser.find_element(By.ID, "clip")
    wait.until(lambda driver: driver.execute_script("return arguments[0].readyState", video) >= 2)
    assert video.get_attribute("data-component") == "2"
    wait.until(lambda driver: driver.execute_script("return arguments[0].currentTime", video) > 0.3)
    size = browser.execute_script("return [arguments[0].videoWidth, arguments[0].videoHeight]", video)
    assert size[0] > 2.5 * size[1] > 0  # three panels side by side
    assert browser.execute_script("return window.scrollY") == 0


def test_merge_and_split_are_saved(page):
    browser, wait, curation = page
    body = browser.find_element(By.TAG_NAME, "body")
    _choose(browser, wait, 4)
    body.send_keys("m")  # merge 4 with the next component clicked
    assert "armed" in browser.find_element(By.ID, "merge").get_attribute("class")
    browser.find_element(By.ID, "outline-mean-5").click()
    _selected(browser, wait, 5)
    assert browser.execute_script("return state.merges") == [[4, 5]]
    assert "edited" in browser.find_element(By.ID, "comp-correlation-4").get_attribute("class")
    assert browser.find_element(By.ID, "sel-reason").text.startswith("merged: 4 + 5")
    _choose(browser, wait, 10)
    body.send_keys("x")  # split 10
    body.send_keys("m")
    assert "cannot also be merged" in browser.find_element(By.ID, "status").text
    _choose(browser, wait, 12)
    body.send_keys("r")
    body.send_keys("s")
    wait.until(lambda driver: driver.find_element(By.ID, "status").get_attribute("data-saved"))
    assert curation.read_text() == "accept: []\nreject: [12]\nmerge: [[4, 5]]\nsplit: [10]\n"
    assert "1 merges, 1 splits" in browser.find_element(By.ID, "status").text
    body.send_keys(Keys.CONTROL, "z")  # undo the reject, then the split
    body.send_keys(Keys.CONTROL, "z")
    assert browser.execute_script("return [state.merges, [...state.splits], state.manual.size]") == [[[4, 5]], [], 0]
