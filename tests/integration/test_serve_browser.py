"""`bcdc-loader serve` in a real headless Chromium, against the local catalogue.

An editor's path through the page: drop a batch with a bad cell and see the
problem on that cell, drop it again fixed, enter the token, preview, run and
watch every row reach its status, download the result workbook and read it.
Then the monthly refresh: export a dataset and see its rows, and the due
report naming a resource a month late.
Also what a stranger gets: no secret, or another Host, and the page refuses.

Chromium and its driver are Debian's (`make test` installs them with apt
when missing). Set BCDC_SCREENSHOTS=FOLDER to keep a screenshot of each step.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import chromium  # dev/chromium.py
import openpyxl
import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from integration.helpers import REQUIRED, resources_of, sheet_rows
from loader.serve.server import make_page_server

pytestmark = pytest.mark.browser

WAIT = 60  # seconds: the longest step is a run against the local catalogue
STOP_ROWS = 80  # far more than can finish between the first status shown and Stop


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(autouse=True)
def empty_downloads(downloads) -> None:
    """Each test starts with no downloads: a workbook another test (or the same test on
    the other CKAN line) downloaded is never taken for this one's."""
    for path in downloads.iterdir():
        path.unlink()


@pytest.fixture(scope="module")
def chrome(tmp_path_factory, downloads) -> Iterator[WebDriver]:
    driver = chromium.chrome(tmp_path_factory.mktemp("chromium-profile"), downloads)
    yield driver
    driver.quit()


@pytest.fixture
def serve(tmp_path) -> Iterator:
    """Start the page (in this process) on a free port; give its secret address and workspace."""
    started = []

    def start(catalogue_url: str | None = None, folder: Path | None = None):
        server, url, workspace = make_page_server(folder or tmp_path, catalogue_url)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, workspace))
        return url, workspace

    yield start
    for server, workspace in started:
        server.shutdown()
        server.server_close()
        workspace.close()


class Steps:
    """Screenshots of each step, when BCDC_SCREENSHOTS names a folder."""

    def __init__(self, driver: WebDriver, name: str):
        folder = os.environ.get("BCDC_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        self.driver, self.name, self.count = driver, name, 0

    def shot(self, step: str) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        self.driver.save_screenshot(str(self.folder / f"{self.name}-{self.count:02d}-{step}.png"))


def write_workbook(path: Path, rows: list[dict[str, str]]) -> Path:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Batch"
    ws.append(columns)
    for row in rows:
        ws.append([row.get(c) for c in columns])
    wb.save(path)
    return path


def statuses(driver: WebDriver, table: str) -> list[str]:
    cells = driver.find_elements(By.CSS_SELECTOR, f"#{table} td.status")
    return [c.text for c in cells]


def datastore_cells(driver: WebDriver) -> list[str]:
    return [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#run-table td.datastore")]


def state(driver: WebDriver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "#run-job .state").text


def wait(driver: WebDriver) -> WebDriverWait:
    """Wait for a condition. A page being replaced meanwhile is not a failure: its
    elements stale or not there yet, or (seen in CI) chromedriver's "unhandled
    inspector error" when asked between two documents. A condition that never
    holds still fails after WAIT seconds."""
    return WebDriverWait(driver, WAIT, ignored_exceptions=[WebDriverException])


def click_and_load(driver: WebDriver, by: str, what: str) -> None:
    """Click something that loads a new page, and wait until the new page is there."""
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(by, what).click()
    wait(driver).until(lambda d: gone(old))
    wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")


def gone(element: WebElement) -> bool:
    """Whether an element's page has been replaced. Asked just as the page goes, the
    driver may answer that the element's node "does not belong to the document": gone too."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def downloaded(driver: WebDriver, folder: Path, pattern: str) -> Path:
    """The workbook a click downloaded, once the browser has written it whole (it may
    show under its own name before the last bytes are in)."""

    def whole(_driver: WebDriver) -> Path | None:
        return next((p for p in folder.glob(pattern) if zipfile.is_zipfile(p)), None)

    found: Path = wait(driver).until(whole)
    return found


def drop(driver: WebDriver, batch: Path, *files: Path) -> None:
    """Hand files to the first page's two file fields (what a drop on them does) and send."""
    driver.find_element(By.ID, "batch").send_keys(str(batch))
    if files:
        driver.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
    click_and_load(driver, By.CSS_SELECTOR, "form.drop button[type=submit]")


@pytest.mark.catalogue
def test_drop_fix_preview_run_and_download(
    catalogue, make_package, chrome, serve, downloads, tmp_path
):
    driver, steps = chrome, Steps(chrome, "run")
    package = make_package()
    desk = tmp_path / "desk"  # where the editor keeps the batch: not the served folder
    desk.mkdir()
    data = desk / "readings.csv"
    data.write_bytes(b"site,value\n" + b"A1,12.5\n" * 20_000)
    rows = [
        {
            "op": "create",
            "package": package["name"],
            "name": "Readings",
            "upload": "files/readings.csv",  # resolved beside the batch, as on the command line
            **REQUIRED,
        },
        {
            "op": "create",
            "package": package["name"],
            "name": "Portal",
            "url": "https://example.com/portal",
            **{**REQUIRED, "format": "html", "resource_storage_location": "web or ftp site"},
            "resource_update_cycle": "sometimes",
        },
        {
            "op": "create",
            "package": package["name"],
            "name": "Sites <b>map</b>",
            "url": "https://example.com/sites",
            **{**REQUIRED, "format": "html", "resource_storage_location": "web or ftp site"},
        },
    ]
    batch = write_workbook(desk / "refresh.xlsx", rows)
    url, workspace = serve(catalogue.url)

    # 1. Check: the bad cell carries its problem
    driver.get(url)
    assert "secret" not in driver.current_url  # kept in a cookie, out of the address bar
    steps.shot("first-page")
    drop(driver, batch, data)
    cell = driver.find_element(
        By.CSS_SELECTOR, 'tr[data-row="3"] td.problem[data-column="resource_update_cycle"]'
    )
    assert "sometimes" in cell.text
    assert "invalid-choice" in cell.text
    assert "Row 3, column 'resource_update_cycle'" in cell.text
    assert len(driver.find_elements(By.CSS_SELECTOR, "td.problem")) == 1
    counts = driver.find_element(By.ID, "check-counts").text
    assert "3 rows: 2 ready, 1 with problems (1 problem)" in counts
    assert driver.find_element(By.ID, "preview-button").get_attribute("disabled")
    # a cell's markup is shown as text, not drawn
    assert "Sites <b>map</b>" in driver.find_element(By.CSS_SELECTOR, 'tr[data-row="4"]').text
    steps.shot("check-problem")

    # ... fixed in the workbook and dropped again (its file was dropped the first time)
    rows[1]["resource_update_cycle"] = "monthly"
    write_workbook(batch, rows)
    click_and_load(driver, By.LINK_TEXT, "All batches")
    drop(driver, batch)
    assert not driver.find_elements(By.CSS_SELECTOR, "td.problem")
    assert "3 rows: 3 ready, 0 with problems" in driver.find_element(By.ID, "check-counts").text
    steps.shot("check-fixed")

    # 2. Token: typed once into a password field, never shown again
    field = driver.find_element(By.ID, "api_key")
    assert field.get_attribute("type") == "password"
    field.send_keys(catalogue.editor_token)
    click_and_load(driver, By.CSS_SELECTOR, ".token-form button")
    assert f"you are {catalogue.editor_name}" in driver.find_element(By.ID, "token").text
    assert catalogue.editor_token not in driver.page_source
    steps.shot("token")

    # 3. Preview: one line per row, nothing written
    click_and_load(driver, By.ID, "preview-button")
    wait(driver).until(lambda d: statuses(d, "preview-table") == ["ready"] * 3)
    actions = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#preview-table td.action")]
    assert actions[0].startswith("would create resource 'Readings' from file /")
    assert actions[0].endswith("/files/readings.csv")
    assert actions[2] == "would create resource 'Sites <b>map</b>'"
    assert resources_of(catalogue, package["id"]) == []
    steps.shot("preview")

    # 4. Run: every row reaches its status, with a link to its resource; the DataStore
    # column follows the uploaded table's load live (held in the queue, then let go)
    with catalogue.worker_paused():
        click_and_load(driver, By.ID, "run-button")
        steps.shot("run-under-way")
        wait(driver).until(lambda d: statuses(d, "run-table") == ["done"] * 3)
        wait(driver).until(lambda d: "waiting for the catalogue to load 1 file" in state(d))
        assert datastore_cells(driver) == ["loading", "", ""]
        steps.shot("run-waiting-for-the-datastore")
    wait(driver).until(lambda d: datastore_cells(d)[0] == "loaded 20,000 rows")
    wait(driver).until(lambda d: d.find_element(By.ID, "run-download").is_displayed())
    summary = driver.find_element(By.CSS_SELECTOR, "#run-job .state").text
    assert re.fullmatch(r"Run finished in [\d.]+ s: 3 done; DataStore: 1 loaded\.", summary), (
        summary
    )
    assert driver.find_element(By.CSS_SELECTOR, "#run-job .rows-text").text == "3 of 3 rows"
    uploaded = driver.find_element(By.CSS_SELECTOR, "#run-job .bytes-text").text
    assert re.fullmatch(r"(15\d\.\d KB) of \1 uploaded", uploaded), uploaded  # all of ~160 kB
    stored = {r["name"]: r for r in resources_of(catalogue, package["id"])}
    assert set(stored) == {"Readings", "Portal", "Sites <b>map</b>"}
    links = [
        a.get_attribute("href")
        for a in driver.find_elements(By.CSS_SELECTOR, "#run-table td.link a")
    ]
    assert links == [
        f"{catalogue.url}/bcdc_dataset/{package['name']}/resource/{stored[name]['id']}"
        for name in ("Readings", "Portal", "Sites <b>map</b>")
    ]
    assert stored["Readings"]["url_type"] == "upload"
    steps.shot("run-finished")

    # ... and the result workbook downloads and reads back
    driver.find_element(By.ID, "run-download").click()
    result = downloaded(driver, downloads, "refresh-results-*.xlsx")
    read = sheet_rows(result)
    assert [r["status"] for r in read] == ["done", "done", "done"]
    assert [r["datastore"] for r in read] == ["loaded 20,000 rows", None, None]
    assert [r["resource_id"] for r in read] == [
        stored[name]["id"] for name in ("Readings", "Portal", "Sites <b>map</b>")
    ]
    assert read[0]["upload"] == "files/readings.csv"
    assert (workspace.dropped_folder / "files" / "readings.csv").read_bytes() == data.read_bytes()


@pytest.mark.catalogue
def test_the_command_lines_options_warnings_and_what_a_preview_would_do(
    catalogue, make_package, chrome, serve, downloads, tmp_path
):
    """Sheet, live schema and workers chosen on the page; a warning on its cell; the
    preview counting rows by what they would do; a reorder and a Windows path too."""
    driver, steps = chrome, Steps(chrome, "options")
    admin = catalogue.client("admin")
    package = make_package()
    for name, address in (("Guide", "guide.pdf"), ("Data 2024", "data-2024.csv")):
        admin.action.resource_create(
            package_id=package["id"], name=name, url=f"https://example.com/{address}", **REQUIRED
        )
    desk = tmp_path / "desk"
    desk.mkdir()
    latin = desk / "sites.csv"  # Windows-1252, as Excel saves plain "CSV": a warning
    latin.write_bytes(b"site,name\n1,Victoria\n2,Caf\xe9 du lac\n")
    rows = [
        {"op": "create", "package": package["name"], "name": "Sites",
         "upload": "files\\sites.csv", **REQUIRED},  # as written on Windows
        {"op": "patch", "package": package["name"], "name": "Data 2024", "format": "csv"},
        {"op": "patch", "package": package["name"], "name": "Guide", "description": "Read me"},
        {"op": "reorder", "package": package["name"]},
    ]  # fmt: skip
    book = openpyxl.Workbook()
    book.active.title = "Notes"  # the first sheet: not the batch
    book.active.append(["Batch for the monthly refresh"])
    sheet = book.create_sheet("Resources")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    sheet.append(columns)
    for row in rows:
        sheet.append([row.get(c) for c in columns])
    book.save(desk / "options.xlsx")
    url, _workspace = serve(catalogue.url)

    driver.get(url)
    drop(driver, desk / "options.xlsx", latin)
    assert "sheet 'Notes' of options.xlsx cannot be used" in driver.page_source
    Select(driver.find_element(By.ID, "sheet")).select_by_visible_text("Resources")
    Select(driver.find_element(By.ID, "schema")).select_by_value("live")
    click_and_load(driver, By.ID, "check-options")
    counts = driver.find_element(By.ID, "check-counts").text
    assert "4 rows: 4 ready, 0 with problems (0 problems); 1 warning (the rows still run)" in counts
    assert "sheet 'Resources', against the catalogue's live schema" in counts
    warned = driver.find_element(
        By.CSS_SELECTOR, 'tr[data-row="2"] td.warning[data-column="upload"]'
    )
    assert "files\\sites.csv" in warned.text and "upload-other-encoding" in warned.text
    assert not driver.find_elements(By.CSS_SELECTOR, "td.problem")
    steps.shot("options-checked")

    driver.find_element(By.ID, "api_key").send_keys(catalogue.editor_token)
    click_and_load(driver, By.CSS_SELECTOR, ".token-form button")

    click_and_load(driver, By.ID, "preview-button")
    wait(driver).until(lambda d: statuses(d, "preview-table") == ["ready"] * 4)
    wait(driver).until(
        lambda d: "finished" in d.find_element(By.CSS_SELECTOR, "#preview-job .state").text
    )
    summary = driver.find_element(By.CSS_SELECTOR, "#preview-job .state").text
    assert summary.startswith(
        "Preview (sheet 'Resources', the catalogue's live schema) finished in "
    ), summary
    for said in ("1 would be created", "1 would change nothing", "1 would be patched",
                 "1 would put a dataset's resources in order"):  # fmt: skip
        assert said in summary, summary
    actions = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#preview-table td.action")]
    assert actions[3] == (
        f"would put the resources of dataset '{package['name']}' in order: 'Guide', "
        "'Data 2024', 'Sites' \u2192 'Sites', 'Data 2024', 'Guide'"
    )
    steps.shot("options-preview")

    jobs = driver.find_element(By.ID, "jobs")
    assert (jobs.get_attribute("value"), jobs.get_attribute("min"), jobs.get_attribute("max")) == (
        "1", "1", "16",
    )  # fmt: skip
    jobs.clear()
    jobs.send_keys("2")
    click_and_load(driver, By.ID, "run-button")
    wait(driver).until(lambda d: statuses(d, "run-table") == ["done"] * 4)
    wait(driver).until(lambda d: d.find_element(By.ID, "run-download").is_displayed())
    summary = driver.find_element(By.CSS_SELECTOR, "#run-job .state").text
    assert re.fullmatch(
        r"Run \(2 workers, sheet 'Resources', the catalogue's live schema\) finished in "
        r"[\d.]+ s: 4 done; DataStore: 1 loaded\.",  # files\sites.csv, loaded
        summary,
    ), summary
    stored = resources_of(catalogue, package["id"])
    assert [r["name"] for r in stored] == ["Sites", "Data 2024", "Guide"]
    steps.shot("options-run")

    driver.find_element(By.ID, "run-download").click()
    result = openpyxl.load_workbook(downloaded(driver, downloads, "options-results-*.xlsx"))
    ws = result["Results"]
    assert [c.value for c in ws[1]][:4] == ["status", "action", "error", "code"]
    assert [ws.cell(row=r, column=1).value for r in range(2, 6)] == ["done"] * 4
    summary_sheet = {r[0]: r[1] for r in result["Summary"].iter_rows(values_only=True)}
    assert summary_sheet["Sheet"] == "Resources"


def test_without_the_secret_or_under_another_host_the_page_refuses(chrome, serve):
    driver, steps = chrome, Steps(chrome, "refused")
    url, _ = serve()
    bare = url.split("?")[0]

    driver.delete_all_cookies()
    driver.get(bare)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Refused"
    assert "printed when it started" in driver.find_element(By.TAG_NAME, "body").text
    steps.shot("no-secret")
    driver.get(bare + "?secret=guessed")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Refused"

    assert requests.get(bare, timeout=10).status_code == 403
    port = bare.rsplit(":", 1)[1].strip("/")
    rebound = requests.get(url, headers={"Host": f"evil.example:{port}"}, timeout=10)
    assert rebound.status_code == 403
    assert "loopback address" in rebound.text
    assert requests.get(url, timeout=10).status_code == 200  # the real address still works

    # the export and due report views answer to the same rules
    root = bare.rstrip("/")
    names = {"names": "anything", "organizations": "anything"}
    assert requests.get(f"{root}/catalogue", timeout=10).status_code == 403
    assert requests.post(f"{root}/export", data=names, timeout=10).status_code == 403
    opened = requests.Session()
    assert opened.get(url, timeout=10).status_code == 200  # now holding the secret's cookie
    for path in ("/export", "/due"):
        cross = {"Origin": "http://evil.example"}
        refused = opened.post(root + path, data=names, headers=cross, timeout=10)
        assert refused.status_code == 403 and "from the page itself" in refused.text
        rebound = opened.post(root + path, data=names, headers={"Host": "evil.example"}, timeout=10)
        assert rebound.status_code == 403
        # from the page itself it gets through to the view (which wants a catalogue)
        own = opened.post(root + path, data=names, headers={"Origin": root}, timeout=10)
        assert own.status_code == 400 and "No catalogue was chosen" in own.text


def test_the_serve_command_prints_its_secret_address(tmp_path):
    (tmp_path / "monthly.csv").write_text("op,package\n")
    command = [
        Path(sys.executable).with_name("bcdc-loader"),
        "serve",
        str(tmp_path),
        "--ckan",
        "http://127.0.0.1:9",
        "--no-browser",
    ]
    env = {k: v for k, v in os.environ.items() if k != "CKAN_API_KEY"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stdout.readline()
        address = re.search(r"http://127\.0\.0\.1:\d+/\?secret=\S+", line)
        assert address, line
        deadline = time.monotonic() + 10
        while True:
            try:
                page = requests.get(address.group(0), timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert page.status_code == 200
        assert "monthly.csv" in page.text
        assert "Token: not entered" in page.text
    finally:
        process.terminate()
        process.wait(timeout=10)


def tab_to(driver: WebDriver, predicate, most: int = 40) -> list[str]:
    """Press Tab until the focused element satisfies `predicate`; the focus order seen."""
    seen = []
    for _ in range(most):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        focused = driver.switch_to.active_element
        seen.append(focused.get_attribute("id") or focused.text)
        if predicate(focused):
            return seen
    raise AssertionError(f"never reached by Tab; focus went {seen}")


@pytest.mark.catalogue
def test_the_page_works_from_the_keyboard(catalogue, make_package, chrome, serve, tmp_path):
    driver, steps = chrome, Steps(chrome, "keyboard")
    package = make_package()
    catalogue.client("admin").action.resource_create(
        package_id=package["id"], name="Portal", url="https://example.com/portal", **REQUIRED
    )
    row = {"op": "patch", "package": package["name"], "name": "Portal"}
    write_workbook(tmp_path / "portal.xlsx", [{**row, "resource_update_cycle": "weekly"}])
    url, _ = serve(catalogue.url)
    driver.get(url)

    tab_to(driver, lambda e: e.text == "portal.xlsx")
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait(driver).until(lambda d: d.find_elements(By.ID, "check-counts"))
    order = tab_to(driver, lambda e: e.get_attribute("id") == "api_key")
    # the page's own controls come in reading order: check's buttons, then the token
    assert order.index("check-again") < order.index("checked-download") < order.index("api_key")
    old = driver.find_element(By.TAG_NAME, "html")
    ActionChains(driver).send_keys(catalogue.editor_token, Keys.ENTER).perform()
    wait(driver).until(lambda d: gone(old))  # the form's answer is a new page
    wait(driver).until(lambda d: "you are" in d.find_element(By.ID, "token").text)
    tab_to(driver, lambda e: e.get_attribute("id") == "preview-button")
    steps.shot("focus-on-preview")
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait(driver).until(lambda d: statuses(d, "preview-table") == ["ready"])
    action = driver.find_element(By.CSS_SELECTOR, "#preview-table td.action").text
    assert (
        action == "would patch resource 'Portal': resource_update_cycle: 'monthly' \u2192 'weekly'"
    )
    steps.shot("previewed-by-keyboard")


@pytest.mark.catalogue
def test_stop_lets_the_call_under_way_finish_and_leaves_the_rest_not_run(
    catalogue, make_package, chrome, serve, tmp_path
):
    driver, steps = chrome, Steps(chrome, "stop")
    package = make_package()
    # Uploads, one call a row: rows that move no file would go as one folded call.
    (tmp_path / "files").mkdir()
    for n in range(STOP_ROWS):
        (tmp_path / "files" / f"part-{n:02d}.csv").write_text(f"n\n{n}\n")
    rows = [
        {
            "op": "create",
            "package": package["name"],
            "name": f"Part {n:02d}",
            "upload": f"files/part-{n:02d}.csv",
            **REQUIRED,
        }
        for n in range(STOP_ROWS)
    ]
    write_workbook(tmp_path / "many.xlsx", rows)
    url, workspace = serve(catalogue.url)
    workspace.access.set_token(catalogue.editor_token)
    driver.get(url)
    click_and_load(driver, By.LINK_TEXT, "many.xlsx")
    click_and_load(driver, By.ID, "run-button")
    wait(driver).until(lambda d: "done" in statuses(d, "run-table"))
    click_and_load(driver, By.ID, "run-stop")
    wait(driver).until(lambda d: "waiting" not in statuses(d, "run-table"))
    wait(driver).until(lambda d: d.find_element(By.ID, "run-download").is_displayed())
    shown = statuses(driver, "run-table")
    steps.shot("stopped")
    done = shown.count("done")
    assert 1 <= done < STOP_ROWS
    assert shown == ["done"] * done + ["not run"] * (STOP_ROWS - done)
    assert len(resources_of(catalogue, package["id"])) == done
    assert (
        f"{done} done, {STOP_ROWS - done} not run"
        in driver.find_element(By.CSS_SELECTOR, "#run-job .state").text
    )


def enter_token(driver: WebDriver, token: str) -> None:
    """Type the token into the token form of the page shown, and send it."""
    driver.find_element(By.ID, "api_key").send_keys(token)
    click_and_load(driver, By.CSS_SELECTOR, ".token-form button")


@pytest.mark.catalogue
def test_export_a_private_dataset_on_the_page_and_see_its_rows(
    catalogue, make_package, chrome, serve, downloads
):
    driver, steps = chrome, Steps(chrome, "export")
    package = make_package(private=True)
    admin = catalogue.client("admin")
    made = [
        admin.action.resource_create(
            package_id=package["id"], name=name, url=f"https://example.com/{n}", **REQUIRED
        )
        for n, name in enumerate(("Stations", "Readings <i>raw</i>"))
    ]
    url, _ = serve(catalogue.url)
    driver.get(url)
    click_and_load(driver, By.ID, "nav-catalogue")

    # without the token the private dataset is not there for the page
    driver.find_element(By.ID, "export-names").send_keys(package["name"])
    click_and_load(driver, By.ID, "export-button")
    problem = driver.find_element(By.ID, "export-problem").text
    assert package["name"] in problem
    assert driver.find_element(By.ID, "export-names").get_attribute("value") == package["name"]
    steps.shot("private-needs-the-token")

    enter_token(driver, catalogue.editor_token)
    driver.find_element(By.ID, "export-names").send_keys(package["name"])
    steps.shot("form")
    click_and_load(driver, By.ID, "export-button")
    assert "2 resources of 1 dataset" in driver.find_element(By.ID, "made").text
    assert "2 rows: 2 ready, 0 with problems" in driver.find_element(By.ID, "check-counts").text
    names = [c.text for c in driver.find_elements(By.CSS_SELECTOR, 'td[data-column="name"]')]
    assert names == ["Stations", "Readings <i>raw</i>"]
    ids = [c.text for c in driver.find_elements(By.CSS_SELECTOR, 'td[data-column="resource_id"]')]
    assert ids == [r["id"] for r in made]
    steps.shot("exported")

    # it downloads as the batch it is, and previews as "no change"
    driver.find_element(By.ID, "batch-download").click()
    exported = downloaded(driver, downloads, f"export-{package['name']}-*.xlsx")
    read = sheet_rows(exported, "Batch")
    assert [(r["op"], r["resource_id"]) for r in read] == [("patch", r["id"]) for r in made]
    click_and_load(driver, By.ID, "preview-button")
    wait(driver).until(lambda d: statuses(d, "preview-table") == ["ready"] * 2)
    actions = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#preview-table td.action")]
    assert actions == ["no change", "no change"]
    steps.shot("previewed")


@pytest.mark.catalogue
def test_the_due_report_shows_an_overdue_resource(
    catalogue, make_package, chrome, serve, downloads
):
    driver, steps = chrome, Steps(chrome, "due")
    package = make_package()
    month_ago = datetime.now(UTC) - timedelta(days=30)
    catalogue.client("admin").action.resource_create(
        package_id=package["id"],
        name=f"Daily counts {package['name']}",
        url="https://example.com/counts",
        **{**REQUIRED, "resource_update_cycle": "daily"},
        last_modified=month_ago.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    url, workspace = serve(catalogue.url)
    workspace.access.set_token(catalogue.editor_token)
    driver.get(url)
    click_and_load(driver, By.ID, "nav-catalogue")
    # from the keyboard: type the name, Tab to the button, Enter
    driver.find_element(By.ID, "due-organizations").send_keys(catalogue.editor_organization)
    old = driver.find_element(By.TAG_NAME, "html")
    ActionChains(driver).send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element.get_attribute("id") == "due-button"
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait(driver).until(lambda d: gone(old))

    row = driver.find_element(By.XPATH, f"//tr[th[text()='Daily counts {package['name']}']]")
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    due_date = (month_ago + timedelta(days=1)).date()
    days = (datetime.now(UTC).date() - due_date).days
    assert cells[0] == package["name"]
    assert cells[1] == "daily"
    assert cells[2] == f"{month_ago:%Y-%m-%d %H:%M:%S} (last_modified)"
    assert cells[3:] == [due_date.isoformat(), str(days)]
    steps.shot("report")

    driver.find_element(By.ID, "due-download").click()
    read = sheet_rows(downloaded(driver, downloads, "due-*.xlsx"), "Batch")
    mine = [r for r in read if r["package"] == package["name"]]
    assert [(r["op"], r["days_overdue"], r["upload"]) for r in mine] == [("patch", days, None)]
    click_and_load(driver, By.ID, "due-open")
    assert "overdue resource" in driver.find_element(By.ID, "made").text
    packages = [c.text for c in driver.find_elements(By.CSS_SELECTOR, 'td[data-column="package"]')]
    assert package["name"] in packages
    steps.shot("opened-as-a-batch")


LONG_BATCH = 5_000


def first_paint(driver: WebDriver) -> str:
    """When the page shown was first painted, and when its document was loaded (ms)."""
    timing = driver.execute_script(
        "const paint = performance.getEntriesByName('first-contentful-paint')[0];"
        "const load = performance.getEntriesByType('navigation')[0];"
        "return [paint ? paint.startTime : null, load.domContentLoadedEventEnd];"
    )
    painted = f"{timing[0]:.0f} ms" if timing[0] is not None else "not reported"
    rows = drawn_rows(driver)
    return f"first contentful paint {painted}, document loaded {timing[1]:.0f} ms, {rows} rows"


def drawn_rows(driver: WebDriver) -> int:
    """Table rows in the page's DOM, heads included."""
    return int(driver.execute_script("return document.querySelectorAll('tr').length"))


@pytest.mark.catalogue
def test_a_5000_row_batch_draws_a_page_of_rows_and_its_run_fills_them_in(
    catalogue, make_package, chrome, serve, tmp_path, capsys
):
    """The check, then a run of 5,000 rows: each table draws 200 rows, whatever the
    batch's length, the statuses of those fill in as the run goes, and the other
    pages are a link away. Times to first paint are printed."""
    driver, steps = chrome, Steps(chrome, "long")
    package = make_package()
    desk = tmp_path / "desk"
    desk.mkdir()
    # five rows that create a resource, and rows patching resources the dataset does
    # not hold: each of those fails on its own once the dataset is read
    lines = [",".join(["op", "package", "name", "url", "description", *REQUIRED])]
    for n in range(LONG_BATCH):
        op, name = ("create", f"Made {n}") if n % 1000 == 0 else ("patch", f"Missing {n}")
        url = f"https://example.com/{n}" if op == "create" else ""
        lines.append(",".join([op, package["name"], name, url, f"row {n}", *REQUIRED.values()]))
    batch = desk / "long.csv"
    batch.write_text("\n".join(lines) + "\n")
    url, _ = serve(catalogue.url)
    driver.get(url)

    drop(driver, batch)
    timed = {"check": first_paint(driver)}
    assert (
        f"{LONG_BATCH} rows: {LONG_BATCH} ready" in driver.find_element(By.ID, "check-counts").text
    )
    assert len(driver.find_elements(By.CSS_SELECTOR, "#batch-table tbody tr")) == 200
    assert (
        "Showing rows 1 to 200 of 5,000 (page 1 of 25)."
        in driver.find_element(By.ID, "check-pages").text
    )
    steps.shot("check")

    enter_token(driver, catalogue.editor_token)
    click_and_load(driver, By.ID, "run-button")
    timed["run under way"] = first_paint(driver)
    steps.shot("run-under-way")
    # the rows drawn get their statuses from the page's polls, not from a reload
    wait(driver).until(lambda d: "waiting" not in statuses(d, "run-table"))
    shown = statuses(driver, "run-table")
    assert len(shown) == 200
    assert shown[0] == "done" and set(shown[1:]) == {"failed"}
    wait(driver).until(
        lambda d: "Run finished" in d.find_element(By.CSS_SELECTOR, "#run-job .state").text
    )
    summary = driver.find_element(By.CSS_SELECTOR, "#run-job .state").text
    assert "5 done, 4995 failed" in summary, summary
    assert drawn_rows(driver) <= 2 * 200 + 2  # two tables of 200 rows and their heads
    steps.shot("run-finished")

    # the last page: another 200 rows at most, row 5,001 with its status
    click_and_load(driver, By.CSS_SELECTOR, "#run-pages .page-last")
    timed["last page"] = first_paint(driver)
    assert (
        "Showing rows 4,801 to 5,000 of 5,000 (page 25 of 25)."
        in driver.find_element(By.ID, "run-pages").text
    )
    last = driver.find_element(By.CSS_SELECTOR, '#run-table tr[data-row="5001"] td.status')
    assert last.text == "failed"
    assert drawn_rows(driver) <= 2 * 200 + 2
    steps.shot("last-page")
    stored = [r["name"] for r in resources_of(catalogue, package["id"])]
    assert sorted(stored) == [f"Made {n}" for n in range(0, LONG_BATCH, 1000)]

    with capsys.disabled():
        for step, figures in timed.items():
            print(f"\n{LONG_BATCH:,}-row batch, the page at '{step}': {figures}")
