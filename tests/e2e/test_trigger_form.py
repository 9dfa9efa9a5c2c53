"""Airflow's real trigger form in headless Chromium: Project and Zone are all a user must fill.

The DAG stays paused, so the run the form creates stays queued: the test asserts what the form
submits (read back through the REST API), not a deployment, and nothing reaches the emulator.
"""

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    Error,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from saxml_gke.parameters import PARAMETERS
from saxml_gke.spec import build_spec
from scripts.run_deploy import DAG_ID, Airflow
from tests.e2e.conftest import ZONE, airflow_stack, resources

# Generous, for every wait: two shared cores run Airflow's four processes, the emulator and
# Chromium, and the form loads the DAG's parameters through the API before it renders.
TIMEOUT_MS = 90_000
expect.set_options(timeout=TIMEOUT_MS)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def airflow(world, control, tmp_path: Path) -> Iterator[Airflow]:
    """The stack of `make run`, with the deploy DAG paused: a triggered run stays queued."""
    with airflow_stack(world, tmp_path, paused=True) as stack:
        yield stack


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        yield browser
        browser.close()


def _launch(playwright: Playwright) -> Browser:
    """Debian's chromium when installed (CI installs it), else the one Playwright downloads.

    Never skips: a missing browser would silently drop the only test of the form.
    """
    system = shutil.which("chromium")
    if system is None:
        subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=False)
    try:
        return playwright.chromium.launch(executable_path=system, headless=True, args=CHROMIUM_ARGS)
    except Error as error:
        pytest.fail(
            "no browser for the trigger form test: install Debian's chromium "
            f"(apt-get install chromium) or run `python -m playwright install chromium`: {error}"
        )


@contextlib.contextmanager
def screenshot_on_failure(page: Page, path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException as error:
        page.screenshot(path=path, full_page=True)
        error.add_note(f"screenshot: {path}")
        raise


def log_in(page: Page, airflow: Airflow) -> None:
    """As a person does: the DAG's page redirects to the login page, and back after it."""
    page.goto(f"{airflow.url}/dags/{DAG_ID}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(airflow.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/dags/{DAG_ID}")


def open_trigger_form(page: Page, airflow: Airflow) -> Locator:
    page.goto(f"{airflow.url}/dags/{DAG_ID}")
    page.get_by_role("button", name="Trigger Dag").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Where", exact=True)).to_be_visible()
    return dialog


def field(dialog: Locator, param: str) -> Locator:
    """The form's input of a parameter: Airflow names it element_<param>."""
    return dialog.locator(f"[name=element_{param}]")


def fill_where(dialog: Locator, project_id: str) -> None:
    """Open the Where section and fill the only two parameters without a default."""
    section = dialog.get_by_role("button", name="Where", exact=True)
    if section.get_attribute("aria-expanded") != "true":
        section.click()
    field(dialog, "project_id").fill(project_id)
    field(dialog, "zone").fill(ZONE)


def keep_paused(dialog: Locator) -> None:
    """The form offers to unpause the DAG on trigger; decline, so the run stays queued."""
    dialog.get_by_text("on trigger").click()
    expect(dialog.get_by_role("checkbox", name="Unpause")).not_to_be_checked()


def runs(airflow: Airflow) -> list[dict[str, Any]]:
    response = airflow.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns")
    response.raise_for_status()
    return response.json()["dag_runs"]


def test_project_and_zone_are_enough_and_a_bad_value_is_refused_by_name(
    world, control, airflow: Airflow, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.set_default_timeout(TIMEOUT_MS)
    project_id = world.ready["project_id"]
    with screenshot_on_failure(page, tmp_path / "trigger-form.png"):
        log_in(page, airflow)
        dialog = open_trigger_form(page, airflow)
        labels = {
            text.replace("*", "").strip() for text in dialog.locator("label").all_text_contents()
        }
        assert {schema["title"] for schema in PARAMETERS.values()} <= labels
        trigger = dialog.get_by_role("button", name="Trigger", exact=True)
        expect(trigger).to_be_disabled()
        fill_where(dialog, project_id)
        expect(trigger).to_be_enabled()
        keep_paused(dialog)
        trigger.click()
        expect(dialog).to_be_hidden()

        (run,) = runs(airflow)
        assert run["state"] == "queued"
        assert (run["conf"]["project_id"], run["conf"]["zone"]) == (project_id, ZONE)
        # Optional fields left empty arrive as null, which the spec reads as not given.
        for name in ("reservation", "bucket", "jobset_manifest_url"):
            assert run["conf"][name] is None, name
        assert build_spec(run["conf"], now=datetime.now(UTC)).project_id == project_id

        dialog = open_trigger_form(page, airflow)
        fill_where(dialog, project_id)
        # The number field clamps to the schema's minimum when it loses focus.
        dialog.get_by_role("button", name="TPU", exact=True).click()
        field(dialog, "tpu_slices").fill("0")
        field(dialog, "tpu_slices").press("Tab")
        expect(field(dialog, "tpu_slices")).to_have_value("1")
        # A text the form passes on is refused by Airflow's validation, naming the parameter.
        dialog.get_by_role("button", name="Where", exact=True).click()
        field(dialog, "cluster_name").fill("Bad_Name")
        keep_paused(dialog)
        dialog.get_by_role("button", name="Trigger", exact=True).click()
        expect(dialog.get_by_text("Invalid input for param cluster_name")).to_be_visible()
        expect(dialog).to_be_visible()
        assert [r["dag_run_id"] for r in runs(airflow)] == [run["dag_run_id"]]
    assert resources(control) == []
