"""The web studio in a real browser (Debian's chromium driven by playwright): a person's session from the
first page load to a download, at desktop and at phone width, with no console error. Screenshots go to
``test-artifacts/studio/`` (``$FASHIONLAB_TEST_ARTIFACTS`` to choose another folder)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("FASHIONLAB_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).is_file():
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: install Debian's chromium (.ci/run does)")
    pytest.skip("no chromium here (apt-get install chromium); CI installs it", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``fashionlab serve`` as a user starts it, on a free loopback port."""
    work = tmp_path_factory.mktemp("studio")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fashionlab", "serve", "--port", "0", "--demo-catalog-items", "60",
         "--work-dir", str(work), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url, lines = None, []
    deadline = time.time() + 240
    while time.time() < deadline and url is None:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if m := re.search(r"studio: (http://127\.0\.0\.1:\d+/)", line):
            url = m.group(1)
    if url is None:
        proc.kill()
        pytest.fail("the service did not start:\n" + "".join(lines))
    import httpx

    while time.time() < deadline:
        try:
            if httpx.get(url + "v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def open_page(browser, url, **context):
    page = browser.new_context(**context).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.on(
        "request",
        lambda r: (
            errors.append(f"left the machine: {r.url}")
            if "127.0.0.1" not in r.url and not r.url.startswith(("data:", "blob:"))
            else None
        ),
    )
    page.goto(url)
    page.wait_for_selector("#samples button")
    return page, errors


def shot(page, name: str) -> None:
    out = ARTIFACTS / "studio"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)


def test_a_session_in_the_studio(server, browser, tmp_path):
    page, errors = open_page(browser, server, viewport={"width": 1280, "height": 900})
    assert "attrnet, editor, reposer" in page.inner_text("#status")
    # pick the first sample with the keyboard: the tiles are buttons
    page.focus("#samples button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#attributes:not([hidden]) tbody tr")
    rows = page.locator("#attributes tbody tr")
    assert rows.count() == 7  # five garment attributes and the two sleeve-region ones
    sample = page.evaluate("fetch('/v1/samples').then(r => r.json())")[0]
    assert rows.nth(0).locator("td").nth(1).inner_text() == sample["attributes"]["sleeve"].replace("_", " ")
    assert page.locator("#domain").is_hidden()  # a SynthFashion sample is what the models know
    rows.nth(1).get_by_role("button").click()
    page.wait_for_selector("#map-figure:not([hidden])")
    assert "color" in page.inner_text("#map-caption")
    shot(page, "1-attributes")

    # edit: long sleeves (or short, if the sample has long ones), shown beside the original with its mask
    wanted = "short" if sample["attributes"]["sleeve"] == "long" else "long"
    page.select_option("select[data-attribute=sleeve]", wanted)
    page.click("#edit")
    page.wait_for_selector("#edit-result:not([hidden])")
    after = page.get_attribute("#edit-after", "src")
    assert after.startswith("data:image/png;base64,") and page.get_attribute("#edit-mask", "src").startswith("data:")
    with page.expect_download() as download:
        page.click("#edit-download")
    saved = tmp_path / "edited.png"
    download.value.save_as(saved)
    with Image.open(saved) as im:
        assert im.size == (128, 128)
    shot(page, "2-edit")
    # the same picture, red sleeves only: the region found at the model's own threshold (the field left empty)
    page.select_option("select[data-attribute=sleeve]", "")
    page.select_option("select[data-attribute=color]", "red" if sample["attributes"]["color"] != "red" else "blue")
    page.select_option("#region", "sleeves")
    assert page.input_value("#threshold") == ""
    page.click("#edit")
    page.wait_for_function("before => document.getElementById('edit-after').src !== before", arg=after)
    # no error (an empty threshold is not sent) and the region was found (at the paper's 0.9 the shipped
    # editor finds no sleeves and says the picture is left unchanged)
    assert page.locator("#error").is_hidden()
    assert "left unchanged" not in page.inner_text("#edit-notes")
    page.select_option("#region", "")
    page.select_option("select[data-attribute=color]", "")
    page.select_option("select[data-attribute=sleeve]", wanted)  # back to the sleeve change for the search

    # search: with this change, and items like my edit
    page.click("#search-change")
    page.wait_for_function("document.querySelectorAll('#results li').length == 8")
    assert f"sleeve {wanted}" in page.locator("#results li").first.inner_text()
    page.click("#search-edit")
    page.wait_for_function("document.getElementById('search-title').textContent.includes('the edit is the query')")
    loaded = "[...document.querySelectorAll('#results li img')].every(i => i.complete && i.naturalWidth > 0)"
    page.wait_for_function(f"document.querySelectorAll('#results li img').length == 8 && {loaded}")
    shot(page, "3-search")

    # re-pose a person to a gallery pose
    page.locator("#samples button").nth(12).click()  # the first "person" sample
    page.wait_for_selector("#attributes:not([hidden])")
    page.locator("#poses button").nth(2).click()
    page.click("#repose")
    page.wait_for_selector("#pose-result:not([hidden])")
    assert page.get_attribute("#pose-after", "src").startswith("data:image/png")
    shot(page, "4-pose")

    # an uploaded photo that is nothing like SynthFashion: the notice says so
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:400]
    photo = np.stack([xx % 256, yy % 256, (xx * yy) % 256], -1).astype(np.uint8) // 2 + rng.integers(
        0, 64, (300, 400, 3), dtype=np.uint8
    )
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    page.set_input_files("#upload", str(tmp_path / "photo.jpg"))
    page.wait_for_selector("#domain:not([hidden])")
    assert "looks unlike what the model was trained on" in page.inner_text("#domain")
    # a bad edit request shows its error in the page, and the page keeps working
    page.evaluate("document.querySelectorAll('#edit-controls select').forEach(s => s.value = '')")
    page.click("#edit")
    page.wait_for_selector("#error:not([hidden])")
    assert "Choose at least one change" in page.inner_text("#error")
    shot(page, "5-photo")
    assert page.locator("img:not([alt])").count() == 0  # every image has a text alternative
    assert errors == []


def test_the_studio_at_phone_width(server, browser):
    page, errors = open_page(browser, server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.locator("#samples button").first.click()
    page.wait_for_selector("#attributes:not([hidden])")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width} px)"
    shot(page, "6-phone")
    assert errors == []
