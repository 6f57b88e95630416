"""The web console in a real browser: Chromium (Debian's package) driven by Selenium through
Debian's chromium-driver, against the real server and models. Each flow ends with a
screenshot in ``test-artifacts/console/`` (``MODELPORT_ARTIFACTS`` moves it).

Without a Chromium and its driver on the PATH these tests are skipped, saying so (`.ci/run`
installs both; locally: ``apt-get install chromium chromium-driver``)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.tiny_diffusers import build_tiny_pipeline
from helpers import ROOT, ServerProcess, smollm2_config, smollm2_gguf

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER) and os.environ.get("CI"):
    pytest.fail(
        "CI: no Chromium and chromedriver on the PATH (.ci/run installs them)", pytrace=False
    )
if not (CHROMIUM and DRIVER):
    pytest.skip(
        "no Chromium and chromedriver on the PATH: the console's browser tests did not run "
        "(apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

ARTIFACTS = Path(os.environ.get("MODELPORT_ARTIFACTS", ROOT / "test-artifacts")) / "console"
KEY = "console-test-key"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _wait(driver: WebDriver, condition, seconds: float = 90) -> object:  # type: ignore[no-untyped-def]
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def _shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _errors(driver: WebDriver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".msg.error .body")]


def _open(driver: WebDriver, base_url: str) -> None:
    driver.get(base_url + "/")
    _wait(driver, lambda d: len(Select(d.find_element(By.ID, "model")).options) > 0)


def _choose(driver: WebDriver, model: str, mode: str) -> None:
    Select(driver.find_element(By.ID, "model")).select_by_value(model)
    Select(driver.find_element(By.ID, "mode")).select_by_value(mode)


def _type(driver: WebDriver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def test_a_chat_streams_into_the_page(browser: WebDriver, base_url: str) -> None:
    """Load the page, send a chat: the answer appears piece by piece (the page's text
    changes several times before the stream ends), then its usage and time to first
    token; the request is shown as curl and as Python."""
    _open(browser, base_url)
    assert browser.title == "modelport console"
    _choose(browser, "smollm2", "chat")
    _type(browser, "temperature", "0")
    _type(browser, "max_tokens", "40")
    _type(browser, "input", "Write three sentences about the sea.")
    browser.execute_script(
        """window.__updates = 0;
        new MutationObserver(() => { window.__updates += 1; }).observe(
          document.getElementById('log'), {subtree: true, characterData: true, childList: true});"""
    )
    browser.find_element(By.ID, "send").click()
    _wait(browser, lambda d: "time to first token" in d.find_element(By.ID, "stats").text)
    assert not _errors(browser)
    answer = browser.find_element(By.CSS_SELECTOR, ".msg.assistant .body").text
    assert len(answer.split()) >= 10, answer
    assert browser.execute_script("return window.__updates") >= 5  # streamed, not at once
    stats = browser.find_element(By.ID, "stats").text
    assert "completion" in stats and "tokens/s" in stats
    browser.find_element(By.CSS_SELECTOR, "#request summary").click()
    code = browser.find_element(By.ID, "code").text
    assert f"curl {base_url}/v1/chat/completions" in code and '"max_tokens": 40' in code
    browser.find_element(By.CSS_SELECTOR, ".code-tab[data-code=python]").click()
    code = browser.find_element(By.ID, "code").text
    assert "client.chat.completions.create(" in code and "max_tokens=40" in code
    _shot(browser, "chat")


def test_a_completion_streams_into_the_page(browser: WebDriver, base_url: str) -> None:
    _open(browser, base_url)
    _choose(browser, "smollm2", "completion")
    _type(browser, "temperature", "0")
    _type(browser, "max_tokens", "12")
    _type(browser, "input", "The three primary colours are")
    browser.find_element(By.ID, "send").click()
    _wait(browser, lambda d: "finish: length" in d.find_element(By.ID, "stats").text)
    assert not _errors(browser)
    assert browser.find_element(By.CSS_SELECTOR, ".msg.completion .body").text.strip()
    assert "12 completion" in browser.find_element(By.ID, "stats").text


def test_switching_to_embeddings(browser: WebDriver, base_url: str) -> None:
    _open(browser, base_url)
    _choose(browser, "all-minilm", "embeddings")
    assert browser.find_element(By.ID, "sampling").is_displayed() is False
    _type(browser, "input", "A man is playing a guitar.\nThe stock market fell.")
    browser.find_element(By.ID, "send").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".vector")) == 2)
    lines = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".vector")]
    assert all("384 dimensions, norm 1.000" in line for line in lines), lines
    assert lines[0].startswith("A man is playing a guitar.")
    _shot(browser, "embeddings")


def _row(driver: WebDriver, model: str) -> list[str] | None:
    """A model's row on the models page as its cells' texts, and whether its button is
    enabled (read in one go: the page redraws the table every few seconds)."""
    return driver.execute_script(  # type: ignore[no-any-return]
        """const row = document.querySelector(`#models tr[data-model="${arguments[0]}"]`);
        if (!row) return null;
        const cells = [...row.cells].map((c) => c.innerText.trim());
        const button = row.querySelector('button');
        return [...cells, button && !button.disabled ? 'enabled' : 'disabled'];""",
        model,
    )


def _press(driver: WebDriver, model: str) -> None:
    driver.execute_script(
        'document.querySelector(`#models tr[data-model="${arguments[0]}"] button`).click()',
        model,
    )


def test_the_models_page_shows_state_and_loads_and_unloads(
    browser: WebDriver, base_url: str
) -> None:
    """smollm2 (eager) shows as loaded with its backend and capabilities, its Unload
    button disabled; a lazy model is loaded and unloaded with its buttons."""
    _open(browser, base_url)
    browser.find_element(By.ID, "tab-models").click()
    smollm2 = _wait(browser, lambda d: _row(d, "smollm2"))
    assert isinstance(smollm2, list)
    assert smollm2[1] == "gguf" and "chat" in smollm2[2] and smollm2[4].startswith("loaded")
    assert smollm2[-1] == "disabled"  # (eager: it stays loaded)

    lazy = "all-minilm-onnx-int8"

    def state(d: WebDriver) -> str:
        row = _row(d, lazy)
        return row[4] if row else ""

    _wait(browser, state)
    if state(browser).startswith("loaded"):  # (an earlier test used it)
        _press(browser, lazy)
        _wait(browser, lambda d: state(d).startswith("unloaded"))
    _press(browser, lazy)
    _wait(browser, lambda d: state(d).startswith("loaded"), 180)
    _shot(browser, "models")
    _press(browser, lazy)
    _wait(browser, lambda d: state(d).startswith("unloaded"))


def test_the_metrics_page_draws_its_charts(browser: WebDriver, base_url: str) -> None:
    """Four charts from the server's history of /metrics, and the totals of its latest
    sample (which counts this session's earlier requests)."""
    _open(browser, base_url)
    browser.find_element(By.ID, "tab-metrics").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".chart canvas")) == 4, 30)

    def served(d: WebDriver) -> float:
        totals = d.find_element(By.ID, "totals").text.splitlines()
        line = next((t for t in totals if t.startswith("requests served")), "0")
        return float(line.split()[-1])

    _wait(browser, lambda d: served(d) > 0, 30)
    _shot(browser, "metrics")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with an API key whose console page is public (the page asks for a key),
    a reasoning model (SmolLM2 whose thinking the server closes when its budget, 8
    tokens at effort "low", is spent), a tiny random diffusers pipeline, and a model
    whose file is not a GGUF (it fails to load)."""
    tmp = tmp_path_factory.mktemp("console-keys")
    pipeline = build_tiny_pipeline(tmp / "tiny-sd")
    broken = tmp / "broken.gguf"
    broken.write_bytes(b"GGUF but not really a model")
    config = smollm2_config(tmp, options="n_ctx = 1024\n")
    text = config.read_text().replace(
        "[server]\n",
        '[server]\napi_keys = [{ env = "MP_CONSOLE_KEY" }]\npublic_console = true\n',
        1,
    )
    config.write_text(
        text + f'[[models]]\nname = "thinker"\nbackend = "gguf"\nsource = "{smollm2_gguf()}"\n'
        '[models.reasoning]\nend = "</think>"\nopened_by_template = true\n'
        "[models.reasoning.budgets]\nlow = 8\n[models.options]\nn_ctx = 1024\n"
        f'[[models]]\nname = "tiny-sd"\nbackend = "diffusers"\nsource = "{pipeline}"\n'
        '[models.options]\nsteps = 2\nsizes = ["64x64"]\n'
        f'[[models]]\nname = "broken"\nbackend = "gguf"\nsource = "{broken}"\n'
    )
    with ServerProcess(config, env={"MP_CONSOLE_KEY": KEY}) as proc:
        yield proc


def test_with_api_keys_the_page_asks_for_one(browser: WebDriver, keyed: ServerProcess) -> None:
    browser.get(keyed.base_url + "/")
    dialog = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "dialog#key-dialog[open]"))
    assert "needs an API key" in dialog.text  # type: ignore[attr-defined]
    _shot(browser, "key-prompt")
    _type(browser, "key-input", "wrong-key")
    browser.find_element(By.ID, "key-save").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "dialog#key-dialog[open]"))
    _type(browser, "key-input", KEY)
    browser.find_element(By.ID, "key-save").click()
    _wait(browser, lambda d: len(Select(d.find_element(By.ID, "model")).options) == 4)
    assert Select(browser.find_element(By.ID, "model")).first_selected_option.text == "smollm2"
    assert browser.execute_script("return sessionStorage.getItem('modelport-api-key')") == KEY


def test_a_reasoning_models_thinking_shows_apart_from_its_answer(
    browser: WebDriver, keyed: ServerProcess
) -> None:
    """With the key kept in the tab's session: the thinker at effort "low" thinks for its
    8-token budget, then answers; the page shows the thinking in its own block above
    the answer, and the reasoning tokens in the usage."""
    _open(browser, keyed.base_url)
    _choose(browser, "thinker", "chat")
    Select(browser.find_element(By.ID, "reasoning_effort")).select_by_value("low")
    _type(browser, "temperature", "0")
    _type(browser, "max_tokens", "40")
    _type(browser, "input", "What is the capital of France?")
    browser.find_element(By.ID, "send").click()
    _wait(browser, lambda d: "time to first token" in d.find_element(By.ID, "stats").text)
    assert not _errors(browser)
    thinking = browser.find_element(By.CSS_SELECTOR, ".msg.assistant .thinking-text").text
    answer = browser.find_element(By.CSS_SELECTOR, ".msg.assistant .body").text
    assert thinking.strip() and answer.strip() and thinking not in answer
    stats = browser.find_element(By.ID, "stats").text
    spent = re.search(r"reasoning tokens: (\d+)", stats)
    assert spent and 8 < int(spent.group(1)) <= 12, stats  # (the budget, and the end marker)
    _shot(browser, "reasoning")


def test_an_image_appears_in_the_page(browser: WebDriver, keyed: ServerProcess) -> None:
    _open(browser, keyed.base_url)
    _choose(browser, "tiny-sd", "images")
    assert not browser.find_element(By.ID, "sampling").is_displayed()
    _type(browser, "size", "64x64")
    _type(browser, "input", "a red square")
    browser.find_element(By.ID, "send").click()
    image = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "img.generated"), 180)
    assert not _errors(browser)
    width = browser.execute_script(
        "const i = arguments[0]; return i.complete ? i.naturalWidth : 0;",
        image[0],  # type: ignore[index]
    )
    assert width == 64
    _shot(browser, "image")


def test_a_rerank_in_the_page(browser: WebDriver, base_url: str) -> None:
    _open(browser, base_url)
    _choose(browser, "all-minilm", "rerank")
    _type(browser, "rerank-query", "Which one is about music?")
    _type(browser, "input", "The stock market fell today.\nShe plays the guitar in a band.")
    browser.find_element(By.ID, "send").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".rank .score")) == 2)
    ranked = browser.find_element(By.CSS_SELECTOR, ".rank").text.splitlines()
    assert "guitar" in ranked[1] and "stock market" in ranked[3], ranked
    _shot(browser, "rerank")


def test_a_model_that_fails_to_load_shows_its_error(
    browser: WebDriver, keyed: ServerProcess
) -> None:
    """Load pressed on a model whose file is not a GGUF: the row turns to failed with
    the loader's error, and the page goes on serving the others."""
    _open(browser, keyed.base_url)
    browser.find_element(By.ID, "tab-models").click()
    _wait(browser, lambda d: _row(d, "broken"))
    _press(browser, "broken")

    def failed(d: WebDriver) -> list[str] | None:
        row = _row(d, "broken")
        return row if row and row[4].startswith("failed") else None

    row = _wait(browser, failed, 60)
    assert isinstance(row, list) and len(row[4].splitlines()) >= 2, row  # (the error text)
    assert (_row(browser, "smollm2") or [""] * 5)[4].startswith(("loaded", "unloaded"))
    _shot(browser, "failed-model")
