"""The Web UI in a real browser, served as ``make run`` serves it (through the codec server): a
person signs in once with the codec token (typed into a form, never in a URL), finds a case by
its stage and reads the child's details; once the token is replaced, the same browser's session
is refused and the same page shows only ciphertext.

Debian's ``chromium`` driven by Playwright (``executable_path``: Playwright's own browser download
does not work everywhere). ``make test`` installs chromium where it can
(``scripts/ensure-chromium.sh``); where it cannot, this test is skipped and says why.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.conftest import binary
from tests.factories import case_id_of, make_case
from whereabouts.activities.deps import Deps
from whereabouts.codec import new_key_spec
from whereabouts.codec_server import app_from_settings
from whereabouts.connect import data_converter
from whereabouts.devstack.mailcatcher import free_port
from whereabouts.search import ALL_KEYS
from whereabouts.vocabulary import CmeStage
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

CHROMIUM = "/usr/bin/chromium"
# As the machine notes say: without the background-networking flags Chromium keeps trying to
# reach Google's hosts, which a closed network refuses. Playwright adds a fresh user data dir.
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
WAIT_MS = 15_000  # the UI is a single-page app: every check waits for what it looks for


def chromium_path() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not found:
        pytest.skip(
            f"Debian's chromium is not installed ({CHROMIUM} missing): `make test` installs it with "
            "scripts/ensure-chromium.sh, which needs root or sudo and Debian's package archive"
        )
    return found


@contextlib.asynccontextmanager
async def codec_server(settings, port: int, ui_upstream: str):
    """``python -m whereabouts.codec_server --ui-upstream ...`` as ``make run`` runs it, in this
    process: the Web UI and its codec endpoint ``/codec`` on one origin."""
    runner = web.AppRunner(app_from_settings(settings, ui_upstream=ui_upstream))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def local_page(context):
    """A page whose requests stay on this machine: the UI and the codec server, nothing else."""
    page = await context.new_page()
    await page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith("http://127.0.0.1:") else route.abort()
        ),
    )
    return page


async def until_listed(client, query: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await client.count_workflows(query)).count == 1:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no case matched {query} within {timeout:.0f} s")


async def test_web_ui_decodes_a_case_found_by_stage_only_with_the_token(settings, tmp_path):
    from playwright.async_api import async_playwright, expect

    executable = chromium_path()
    settings.codec_keys = SecretStr(new_key_spec("browser-test"))
    token = f"ui-{uuid.uuid4().hex}"
    settings.codec_token = SecretStr(token)
    dev_ui_port, ui_port = free_port(), free_port()
    ui = f"http://127.0.0.1:{ui_port}"
    settings.school_day_seconds = 3600  # an hour-long "school day": on Day 1 whenever the test runs
    # As `make run` runs it (devstack/__main__.py): the dev server's UI behind the codec server,
    # its codec endpoint the relative /codec, so no token is on any command line or in any URL.
    dev_args = ["--ui-codec-endpoint", "/codec", "--ui-disable-news-fetch"]
    assert not any(token in arg for arg in dev_args)

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(settings),  # the encrypting converter every client uses
        search_attributes=list(ALL_KEYS),
        dev_server_log_level="error",
        ui=True,
        ui_port=dev_ui_port,
        dev_server_extra_args=dev_args,
    )
    dev_ui = f"http://127.0.0.1:{dev_ui_port}"
    try:
        case = make_case(date.today())
        query = f'CmeStage="{CmeStage.DAY1_CALL}"'
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            context = await browser.new_context()  # one browser profile: its cookie outlives the token
            try:
                async with (
                    codec_server(settings, ui_port, dev_ui),
                    build_worker(env.client, settings, Deps.from_settings(settings)),
                ):
                    handle = await env.client.start_workflow(
                        CmeCaseWorkflow.run, case, id=case_id_of(case), task_queue=settings.task_queue
                    )
                    # A second case no worker has picked up: it has no stage yet, so the filter hides it.
                    unstaged = make_case(date.today())
                    await env.client.start_workflow(
                        CmeCaseWorkflow.run,
                        unstaged,
                        id=case_id_of(unstaged),
                        task_queue=f"idle-{uuid.uuid4()}",
                    )
                    await until_listed(env.client, query)
                    page = await local_page(context)
                    requests: list[str] = []
                    page.on("request", lambda r: requests.append(r.url))
                    try:
                        # Signed in once, with the token typed into a form (a POST body).
                        await page.goto(f"{ui}/codec/login")
                        await page.fill("#token", token)
                        await page.get_by_role("button", name="Sign in").click()
                        await expect(page.get_by_text("Signed in")).to_be_visible(timeout=WAIT_MS)
                        # The workflow list, filtered as an operator would: by the case's stage.
                        await page.goto(f"{ui}/namespaces/default/workflows?query={quote(query)}")
                        link = page.get_by_role("link", name=case_id_of(case))
                        await expect(link).to_be_visible(timeout=WAIT_MS)
                        await expect(page.get_by_role("link", name=case_id_of(unstaged))).to_have_count(0)
                        await link.first.click()
                        # The case page: its input, decoded by the codec server for this session.
                        input_card = page.get_by_text('"forename": "Robin"')
                        await expect(input_card.first).to_be_visible(timeout=WAIT_MS)
                        body = page.locator("body")
                        for detail in ('"surname": "Testperson"', "7 Imaginary Row", "Grace Testperson"):
                            await expect(body).to_contain_text(detail)
                        case_url = page.url
                    finally:
                        await page.screenshot(path=tmp_path / "with-token.png", full_page=True)
                    await page.close()
                    assert any(u.startswith(f"{ui}/codec/decode") for u in requests)
                    assert not any(token in u for u in requests), "the token travelled in a URL"

                # What Temporal holds: the case's input as stored, which is ciphertext.
                raw = Client(env.client.service_client, namespace=env.client.namespace)
                started = (await raw.get_workflow_handle(handle.id).fetch_history()).events[0]
                stored = started.workflow_execution_started_event_attributes.input.payloads[0]
                assert stored.metadata["encoding"] == b"binary/encrypted"
                ciphertext = base64.b64encode(stored.data).decode()[:40]

                # The token is replaced: the session this browser holds was signed with the old one,
                # so the codec server refuses it and the UI can show only that ciphertext.
                settings.codec_token = SecretStr(f"new-{uuid.uuid4().hex}")
                async with codec_server(settings, ui_port, dev_ui):
                    page = await local_page(context)
                    refused = []
                    page.on(
                        "response",
                        lambda r: (
                            refused.append(r.status) if r.url.startswith(f"{ui}/codec/decode") else None
                        ),
                    )
                    try:
                        await page.goto(case_url)
                        content = page.locator("#content")
                        await expect(content.get_by_text("Codec Server could not connect")).to_be_visible(
                            timeout=WAIT_MS
                        )
                        await expect(content).to_contain_text(ciphertext, timeout=WAIT_MS)
                        text = await page.locator("body").inner_text()
                    finally:
                        await page.screenshot(path=tmp_path / "without-token.png", full_page=True)
            finally:
                await browser.close()
        assert 401 in refused, f"the UI never asked the codec server (responses: {refused})"
        found = [word for word in ("Robin", "Testperson", "Imaginary Row", "EX9 1ZZ") if word in text]
        assert not found, f"the UI showed {found} without a valid token"
    finally:
        await env.shutdown()
