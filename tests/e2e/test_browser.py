"""Headless Chromium (Debian's) signs in through the sign-in page with password and TOTP.

Selenium drives Debian's chromium through Debian's chromedriver at /usr/bin/chromedriver; the
driver path is given explicitly, so Selenium Manager never runs and nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from harness import Seawall, Upstream, header_values

os.environ.setdefault("SE_OFFLINE", "true")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

USER_FIELDS = "input[name=username], input[autocomplete=username], input[type=email]"
CODE_FIELDS = ("input[name=code], input[autocomplete=one-time-code], input[inputmode=numeric]")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    for exe in (CHROMIUM, CHROMEDRIVER):
        if not Path(exe).exists():
            pytest.fail(f"`{exe}` is missing; run scripts/install-deps.sh")
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # The gateway's certificate is the data dir's self-signed one.
    options.accept_insecure_certs = True
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def fill(driver: webdriver.Chrome, css: str, text: str) -> None:
    field = WebDriverWait(driver, 15).until(
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()),
                       None))
    field.clear()
    field.send_keys(text)


def submit(driver: webdriver.Chrome, after: str) -> None:
    """Submits the form that holds the field matched by `after`."""
    field = driver.find_element(By.CSS_SELECTOR, after)
    buttons = field.find_elements(By.XPATH, "./ancestor::form//*[@type='submit']")
    if buttons:
        buttons[0].click()
    else:
        field.submit()


def shot(driver: webdriver.Chrome, sw: Seawall, name: str) -> str:
    path = sw.workdir / f"{name}.png"
    driver.save_screenshot(str(path))
    return f"(screenshot: {path}; url: {driver.current_url})"


def test_chromium_signs_in_with_password_and_totp_and_lands_where_it_asked(
        gw: Seawall, upstream: Upstream, browser: webdriver.Chrome, marker: str) -> None:
    user = gw.add_user("grace", ["eng"])
    gw.enroll(user)

    wanted = f"{gw.gateway_url}/app/{marker}/page?x=1&y=two"
    browser.get(wanted)
    assert "/.seawall/sign-in" in browser.current_url, shot(browser, gw, "no-redirect")
    assert not upstream.saw(marker)

    fill(browser, USER_FIELDS, user.name)
    fill(browser, "input[type=password]", user.password)
    submit(browser, "input[type=password]")

    try:
        fill(browser, CODE_FIELDS, user.fresh_code())
    except TimeoutException:
        raise AssertionError("no TOTP field after the password " + shot(browser, gw, "no-code"))
    submit(browser, CODE_FIELDS)

    try:
        WebDriverWait(browser, 15).until(lambda d: d.current_url == wanted)
    except TimeoutException:
        raise AssertionError(f"did not land on {wanted} " + shot(browser, gw, "not-landed"))
    heading = browser.find_element(By.ID, "upstream").text
    assert heading == f"upstream saw GET /app/{marker}/page?x=1&y=two"
    seen = upstream.requests_with(marker)
    assert len(seen) == 1
    assert header_values(seen[0], "X-Forwarded-User")
    assert "seawall_session" not in ";".join(header_values(seen[0], "Cookie"))
    # The session is a cookie the browser holds; a second page needs no sign-in.
    browser.get(f"{gw.gateway_url}/open/{marker}-again")
    assert browser.current_url.endswith(f"/open/{marker}-again"), shot(browser, gw, "again")
    cookie = browser.get_cookie("seawall_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["secure"]


def test_sign_in_never_redirects_off_the_gateway(
        gw: Seawall, browser: webdriver.Chrome) -> None:
    # A redirect target on another origin (a loopback address nothing listens on).
    for i, evil in enumerate(("https://127.0.0.2:9/evil", "//127.0.0.2:9/evil",
                              "/\\127.0.0.2:9/evil")):
        user = gw.add_user(f"heidi{i}", ["eng"])
        gw.enroll(user)
        browser.delete_all_cookies()
        browser.get(f"{gw.gateway_url}/.seawall/sign-in?rd={quote(evil, safe='')}")
        fill(browser, USER_FIELDS, user.name)
        fill(browser, "input[type=password]", user.password)
        submit(browser, "input[type=password]")
        fill(browser, CODE_FIELDS, user.fresh_code())
        submit(browser, CODE_FIELDS)
        WebDriverWait(browser, 15).until(
            lambda d: "/.seawall/sign-in" not in d.current_url
            and not d.find_elements(By.CSS_SELECTOR, CODE_FIELDS))
        assert browser.current_url.startswith(gw.gateway_url), (
            evil, shot(browser, gw, "open-redirect"))
