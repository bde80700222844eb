"""The Dagster UI, driven by a real headless Chromium against a real `dagster-webserver`.

Real parts only: the ingest stage is materialized by the project's own CLI into a fresh
Dagster instance (temporary DAGSTER_HOME) and warehouse (temporary AUGMENT_WAREHOUSE) on
the embedded sample data; the webserver serves `workspace.yaml` from the repository root;
Debian's Chromium (`scripts/install_browser.sh`) renders the React app. The tests check
what a person would look at after `make demo`: the materialization's metadata on an asset
page, the ingest group's asset graph, and the leakage check's result on the checks tab.

The last test launches a materialization of the ingest group from the UI (the daemon of `dagster
dev` dequeues it), waits for the run, checks the result in DuckDB and opens the synthetic
partitions' view. Screenshots of every page land in the pytest tmp dir (printed with `-s`) and, when
UI_SCREENSHOT_DIR is set (`make test` sets it to data/ui-screenshots), are copied there too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# The code location's name: `python_module` in workspace.yaml.
LOCATION = "augment_assets.definitions"
# Without the background-networking flags Chromium's own connections (updates, sync, field
# trials) are refused by the closed network and slow or break the launch.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Source settings that would replace the embedded sample: the test must not read them.
SOURCE_ENV = ("YELP_DATASET_DIR", "REVIEWS_CSV", "GOLD_HOLDOUT_CSV", "REFERENCE_SYNTHETIC_CSV")
FIRST_LOAD_MS = 60_000  # the first load compiles nothing but fetches a large SPA bundle
LOAD_MS = 30_000
SERVER_START_S = 90
INGEST_TIMEOUT_S = 600


def _require_browser() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `bash scripts/install_browser.sh` (Debian's chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the Python package playwright is missing: run `bash scripts/install_browser.sh`")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "<no log>"


def _stop(process: subprocess.Popen) -> None:
    """Terminate the webserver's whole process group (it spawns a code server child)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def instance_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh Dagster instance and warehouse, with the ingest stage materialized into them."""
    _require_browser()
    root = tmp_path_factory.mktemp("ui")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    # The "Join the Dagster community" dialog covers every page until dismissed once per
    # DAGSTER_HOME; the webserver records that dismissal in this file.
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    env = {key: value for key, value in os.environ.items() if key not in SOURCE_ENV}
    env.update(
        DAGSTER_HOME=str(home),
        AUGMENT_WAREHOUSE=str(root / "warehouse.duckdb"),
        AUGMENT_WORK_DIR=str(root / "work"),
        AUGMENT_CLASSIFIERS_DIR=str(root / "classifiers"),
        AUGMENT_INBOX=str(root / "inbox"),
        AUGMENT_REPORTS_DIR=str(root / "reports"),
        PYTHONUNBUFFERED="1",
    )
    started = time.perf_counter()
    ingest = subprocess.run(
        [sys.executable, "-m", "augment_assets", "materialize", "--stage", "ingest"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=INGEST_TIMEOUT_S,
    )
    assert ingest.returncode == 0, (
        f"`augment-assets materialize --stage ingest` failed ({ingest.returncode}):\n"
        f"{ingest.stdout[-3000:]}\n{ingest.stderr[-6000:]}"
    )
    print(f"\ningest stage materialized in {time.perf_counter() - started:.1f} s into {home}")
    env["UI_TEST_ROOT"] = str(root)
    return env


@pytest.fixture(scope="module")
def webserver(instance_env: dict[str, str]) -> Iterator[str]:
    """`dagster dev -w workspace.yaml` (the webserver and the daemon, which dequeues runs launched
    from the UI) on a free port; yields its base URL."""
    root = Path(instance_env["UI_TEST_ROOT"])
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = root / "webserver.log"
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-w",
        "workspace.yaml",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=instance_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown reaches the code server too
        )
    try:
        started = time.perf_counter()
        deadline = started + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"dagster dev exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{base_url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.perf_counter() > deadline:
                pytest.fail(f"dagster dev did not answer within {SERVER_START_S} s:\n{_tail(log_path)}")
            time.sleep(0.5)
        print(f"webserver up in {time.perf_counter() - started:.1f} s at {base_url} (log: {log_path})")
        yield base_url
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser(webserver: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, webserver: str, tmp_path: Path):
    context = browser.new_context(base_url=webserver, viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Fallback should the community dialog show anyway: dismiss it whenever it blocks an action.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    yield page
    # Always leave a picture of where the page stood (on a failure above all).
    try:
        page.screenshot(path=str(tmp_path / "final.png"), full_page=True)
    finally:
        context.close()
    assert not errors, f"uncaught errors in the UI: {errors}"


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    # animations="disabled" finishes fade-ins (dialogs) so the picture shows the settled page.
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    print(f"screenshot: {path}")
    if os.environ.get("UI_SCREENSHOT_DIR"):  # the test artifacts a person looks at after CI
        keep = Path(os.environ["UI_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / path.name)
    return path


def test_asset_page_shows_the_materialization_metadata(page, tmp_path: Path):
    from playwright.sync_api import expect

    page.goto("/assets/pizza_reviews")
    # The metadata table of the latest materialization: keys written by the ingest asset.
    expect(page.get_by_text("duplicates_removed", exact=True).first).to_be_visible(timeout=FIRST_LOAD_MS)
    for key in ("rows_negative", "rows_positive", "rows_rejected", "source", "preview"):
        expect(page.get_by_text(key, exact=True).first).to_be_visible(timeout=LOAD_MS)
    # `dagster/row_count` is shown in the Status panel, not in the metadata table.
    expect(page.get_by_text("Row count", exact=True).first).to_be_visible()
    expect(page.get_by_text("pizza_reviews", exact=True).first).to_be_visible()
    expect(page.get_by_text("Latest materialization").first).to_be_visible()
    # The embedded sample was read (no source env vars were set): the `source` value.
    source_row = page.get_by_role("row").filter(has=page.get_by_text("source", exact=True))
    expect(source_row.first).to_contain_text("sample")
    # Definition panel: the asset's group; lineage panel: its downstream split.
    expect(page.get_by_text("ingest", exact=True).first).to_be_visible()
    expect(page.get_by_text("training_reviews", exact=True).first).to_be_visible()
    expect(page.get_by_text("holdout_reviews", exact=True).first).to_be_visible()
    # The owner and the column schema (`dagster/column_schema`) every table asset carries.
    expect(page.get_by_text("augment-assets").first).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text("Columns").first).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text("review_id", exact=True).first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "pizza_reviews")

    # A markdown metadata value opens in a dialog and renders as markdown (a table).
    preview_row = page.get_by_role("row").filter(has=page.get_by_text("preview", exact=True))
    preview_row.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=LOAD_MS)
    expect(dialog.locator("table").first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "pizza_reviews_markdown")


def test_ingest_group_graph_lists_the_split(page, tmp_path: Path):
    from playwright.sync_api import expect

    page.goto(f"/locations/{LOCATION}/asset-groups/ingest")
    expect(page.get_by_text("training_reviews", exact=True).first).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(page.get_by_text("ingest", exact=True).first).to_be_visible()
    # Each node's live status loads after the graph ("Loading..." first).
    expect(page.get_by_text("Materialized").first).to_be_visible(timeout=LOAD_MS)
    # training_reviews' leakage checks, summarized on its node (e.g. "3 / 3 Passed").
    expect(page.get_by_text(re.compile(r"^\s*(\d+) / \1 Passed\s*$")).first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "ingest_graph")
    # The graph with its downstream groups is wider than the screen: the group's list names every asset.
    page.get_by_text("List", exact=True).first.click()
    for asset in ("holdout_reviews", "pizza_reviews", "gold_holdout", "review_source", "unlabelled_reviews"):
        expect(page.get_by_text(asset, exact=True).first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "ingest_list")

    # The catalog lists the same assets, each with a link to its group (a virtualized grid of
    # links, not an ARIA table): e.g. /asset-groups~group:"ingest"/training_reviews.
    page.goto("/assets")
    for asset in ("training_reviews", "holdout_reviews"):
        expect(page.locator(f'a[href="/assets/{asset}"]').first).to_be_visible(timeout=LOAD_MS)
        group_link = page.locator(f'a[href$="/{asset}"]').filter(has_text=re.compile(r"^\s*ingest\s*$"))
        expect(group_link.first).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text("Materialized").first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "catalog")


def test_checks_tab_shows_no_holdout_text_passed(page, tmp_path: Path):
    from playwright.sync_api import expect

    page.goto("/assets/training_reviews?view=checks")
    check = page.get_by_text("no_holdout_text", exact=True).first
    expect(check).to_be_visible(timeout=FIRST_LOAD_MS)
    check.click()
    expect(page.get_by_text("Evaluation result").first).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text("This is a blocking asset check.").first).to_be_visible()
    # The check's own description of what it found.
    expect(page.get_by_text("no holdout reviews found verbatim in training_reviews").first).to_be_visible()
    _screenshot(page, tmp_path, "training_reviews_checks")


def test_the_automation_page_lists_the_schedules_and_sensors(page, tmp_path: Path):
    from playwright.sync_api import expect

    page.goto("/automation")
    for name in (
        "weekly_refresh",
        "weekly_evaluation",
        "review_source_changed",
        "evaluation_follows_inputs",
        "dead_run_recovery",
    ):
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=FIRST_LOAD_MS)
    _screenshot(page, tmp_path, "automation")


def _runs(env: dict[str, str]):
    """The runs of the test's instance, newest first (read like any other client of DAGSTER_HOME)."""
    code = (
        "import json, dagster as dg\n"
        "with dg.DagsterInstance.get() as i:\n"
        "    e = i.get_latest_materialization_event(dg.AssetKey('training_reviews'))\n"
        "    rows = e.asset_materialization.metadata['dagster/row_count'].value if e else None\n"
        "    print(json.dumps([[r.run_id, r.status.value, e.run_id if e else None, rows] for r in i.get_runs()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_materialization_launched_from_the_ui_succeeds_and_lands_in_duckdb(page, tmp_path: Path, instance_env):
    """Materialize all in the ingest group's graph: the run is launched by the webserver, dequeued by
    the daemon, executed, and its tables are the ones in the warehouse; then the synthetic
    partitions' view shows both partition dimensions."""
    import duckdb
    from playwright.sync_api import expect

    before = {run_id for run_id, *_ in _runs(instance_env)}
    page.goto(f"/locations/{LOCATION}/asset-groups/ingest")
    expect(page.get_by_text("training_reviews", exact=True).first).to_be_visible(timeout=FIRST_LOAD_MS)
    page.get_by_role("button", name=re.compile(r"Materialize all")).first.click()
    _screenshot(page, tmp_path, "ingest_launched")
    deadline = time.perf_counter() + INGEST_TIMEOUT_S
    while True:
        new = [
            (run_id, status, latest, rows)
            for run_id, status, latest, rows in _runs(instance_env)
            if run_id not in before
        ]
        if new and new[0][1] in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        assert time.perf_counter() < deadline, f"the UI-launched run did not finish within {INGEST_TIMEOUT_S} s: {new}"
        time.sleep(2)
    run_id, status, latest, rows = new[0]
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_text("Success").first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "ingest_run")
    assert status == "SUCCESS", f"run {run_id} ended {status}"
    with duckdb.connect(instance_env["AUGMENT_WAREHOUSE"], read_only=True) as con:
        training, holdout = (
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("training_reviews", "holdout_reviews")
        )
    assert training > 0 and holdout > 0
    # The warehouse's table is the one this run published: its latest materialization, same row count.
    assert latest == run_id and rows == training

    # generator x temperature: one filterable column per dimension, every key listed, none materialized yet.
    page.goto("/assets/synthetic_reviews?view=partitions")
    for dimension in ("generator", "temperature"):
        expect(page.get_by_placeholder(re.compile(f"Filter by {dimension}")).first).to_be_visible(timeout=FIRST_LOAD_MS)
    for key in ("negative_all_r1", "positive_50_r1", "0.9"):
        expect(page.get_by_text(key, exact=True).first).to_be_visible(timeout=LOAD_MS)
    expect(page.get_by_text("12 Partitions Selected").first).to_be_visible(
        timeout=LOAD_MS
    )  # 4 generators x 3 temperatures
    expect(page.get_by_text("Missing (12)").first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "synthetic_partitions")


def test_the_report_answers_the_three_questions_on_screen(page, tmp_path: Path, instance_env):
    """The evaluate stage (TF-IDF classifiers only, no generators: the learning-curve answer) saves a classifier
    per data size and writes the report; Chromium opens report.html and shows, per data size, whether synthetic
    data helped, what to deploy and what the synthetic data was worth; the report asset's page shows the same."""
    from playwright.sync_api import expect

    root = Path(instance_env["UI_TEST_ROOT"])
    config = root / "evaluate.yaml"
    config.write_text(
        json.dumps(
            {
                "ops": {
                    "training_set": {"config": {"draws": 1}},
                    "classifier_metrics": {"config": {"classifiers": ["nb", "lr"], "bootstrap": 200}},
                }
            }
        )
    )
    evaluate = subprocess.run(
        [sys.executable, "-m", "augment_assets", "materialize", "--stage", "evaluate", "--config", str(config)],
        cwd=REPO_ROOT,
        env=instance_env,
        capture_output=True,
        text=True,
        timeout=INGEST_TIMEOUT_S,
    )
    assert evaluate.returncode == 0, evaluate.stderr[-6000:]
    report = Path(instance_env["AUGMENT_REPORTS_DIR"]) / "report.html"
    page.goto(report.as_uri())
    sizes = page.locator("h2").filter(has_text=re.compile(r"\(data size "))
    expect(sizes.first).to_be_visible(timeout=LOAD_MS)
    assert sizes.count() == 5  # all, 100, 50, 25, 10 per class: the recommendation's data sizes
    for question in ("Did synthetic data help?", "What to deploy:", "What the synthetic data was worth:"):
        answers = page.get_by_text(question)
        assert answers.count() == 5, question
        for i in range(5):
            expect(answers.nth(i)).to_be_visible()
    expect(page.locator("img[alt='learning curve on the holdout']")).to_be_visible()
    # the ingest stage's blocking checks ran and passed; the checks of stages not run say so
    expect(page.get_by_text(re.compile(r"\d+ of \d+ checks passed")).first).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="training_reviews").filter(has_text="passed").first).to_be_visible()
    _screenshot(page, tmp_path, "report")

    page.goto("/assets/report")
    expect(page.get_by_text("report", exact=True).first).to_be_visible(timeout=FIRST_LOAD_MS)
    report_row = page.get_by_role("row").filter(has=page.get_by_text("report", exact=True))
    report_row.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Did synthetic data help?").first).to_be_visible(timeout=LOAD_MS)
    _screenshot(page, tmp_path, "report_asset")
