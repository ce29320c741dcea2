"""The production deployment files, checked without a Docker engine: docker-compose.yml against
the Compose Specification schema, the services the README names, every setting documented in
.env.example, every image pinned, the admin step's search attributes and script (run for real
against the dev server), the image's pinned requirements; and the worker's Prometheus endpoint,
scraped after a real case closes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import tomllib
import urllib.request
import uuid
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
import yaml
from dotenv import dotenv_values
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from tests.conftest import BIN, FAST_DAY_SECONDS, STARTED, until_stage
from tests.factories import case_id_of, make_case
from whereabouts import metrics
from whereabouts.activities.deps import Deps
from whereabouts.activities.mail import Mail, build_message, deliver
from whereabouts.codec import new_key_spec
from whereabouts.connect import connect
from whereabouts.devstack.mailcatcher import free_port
from whereabouts.models import CallRecord, CaseResult
from whereabouts.pseudonym import new_key
from whereabouts.search import ALL_KEYS, CLI_TYPES
from whereabouts.settings import Settings, SmtpSecurity, plain_smtp_refused
from whereabouts.vocabulary import CmeOutcome, CmeStage
from whereabouts.worker import build_worker
from whereabouts.workflows.case import CmeCaseWorkflow

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SPEC_DIR = ROOT / ".." / "shared" / "compose-spec"
README_SECTION = "Running it for a local authority"
# The services docker-compose.yml promises, used until the README has its section.
SERVICES = (
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-admin",
    "temporal-ui",
    "codec-server",
    "worker",
    "feed",
    "admin",
    "mailpit",
)
# Who talks to Temporal, each with its own token (a Docker secret) for Temporal's authorization.
IDENTITIES = {
    "worker": "worker-temporal-token",
    "feed": "feed-temporal-token",
    "admin": "admin-temporal-token",
    "temporal-admin": "temporal-admin-token",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def env_example_names() -> set[str]:
    """Every variable .env.example sets or shows commented out (``# NAME=...``)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M))


def admin_script(compose: dict) -> str:
    """The temporal-admin step's shell script, as the container's shell receives it."""
    return compose["services"]["temporal-admin"]["command"][0].replace("$$", "$")


# --- docker-compose.yml --------------------------------------------------------------------------


def test_compose_file_follows_the_compose_spec(compose):
    schema_path = SPEC_DIR / "compose-spec.json"
    if not SPEC_DIR.is_dir():
        pytest.skip(f"no Compose Specification schema at {SPEC_DIR}")
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def readme_services() -> list[str] | None:
    """Service names in the README's deployment section: the first cell of each table row (or the
    start of each list item) in backticks. None while the README has no such section."""
    readme = ROOT / "README.md"
    if not readme.exists():
        return None
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"#+\s+{README_SECTION}\s*$", line)), None)
    if start is None:
        return None
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    names = []
    for line in lines[start + 1 :]:
        heading = re.match(r"(#+)\s", line)
        if heading and len(heading.group(1)) <= level:
            break
        found = re.match(r"\s*(?:\|\s*|[-*]\s+)`([a-z0-9][a-z0-9_.-]*)`", line)
        if found:
            names.append(found.group(1))
    return names


def test_every_service_the_readme_names_exists(compose):
    named = readme_services() or list(SERVICES)
    missing = [name for name in named if name not in compose["services"]]
    assert not missing, f"named in the README (or promised) but not in docker-compose.yml: {missing}"


def test_start_order_waits_for_health_and_one_shot_steps(compose):
    services = compose["services"]
    wants = {
        ("temporal-schema", "postgresql"): "service_healthy",
        ("temporal", "temporal-schema"): "service_completed_successfully",
        ("temporal-admin", "temporal"): "service_healthy",
        ("worker", "temporal-admin"): "service_completed_successfully",
        ("temporal-ui", "temporal-admin"): "service_completed_successfully",
    }
    for (service, dependency), condition in wants.items():
        assert services[service]["depends_on"][dependency]["condition"] == condition, (service, dependency)
    for name, service in services.items():
        for dependency, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s health"


def test_every_image_is_pinned(compose):
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name}: no image (built services name theirs, with a version)"
        if "@sha256:" in image:
            continue
        last = image.rsplit("/", 1)[-1]
        assert ":" in last, f"{name}: {image} has no tag"
        tag = last.rsplit(":", 1)[1]
        assert tag and tag != "latest", f"{name}: {image} is not pinned"
        assert "auto-setup" not in image, f"{name}: temporalio/auto-setup is deprecated"


def test_worker_and_codec_server_run_the_repo_image_with_the_env_file(compose):
    services = compose["services"]
    worker, codec = services["worker"], services["codec-server"]
    feed, admin = services["feed"], services["admin"]
    for service in (worker, codec, feed, admin):
        assert service["image"] == worker["image"]
        assert service["build"] in (".", {"context": "."})
        assert service["env_file"] in (".env", [".env"])
        assert service["environment"]["WHEREABOUTS_ENVIRONMENT"] == "production"
    assert codec["command"] == ["python", "-m", "whereabouts.codec_server"]
    assert feed["entrypoint"] == ["python", "starter.py"] and admin["entrypoint"] == ["python", "admin.py"]
    assert feed["profiles"] == admin["profiles"] == ["tools"]  # run on demand, never by `up`
    assert worker["deploy"]["replicas"] >= 1
    # The browser calls the codec server by its published port, and sends the user's own token.
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "${CODEC_PUBLIC_URL:-http://localhost:8081}"
    assert ui["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert "127.0.0.1:8081:8081" in codec["ports"]
    assert codec["environment"]["WHEREABOUTS_CODEC_SERVER_HOST"] == "0.0.0.0"  # inside its container
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "var/" in ignored


def test_temporal_authorization_lets_only_our_identities_act(compose):
    """Temporal's own authorization is on (default JWT claim mapper and authorizer), every
    process that acts on cases has its own token, the Web UI's users sign in and are read-only
    there, and no shared codec token is left anywhere in the deployment."""
    services = compose["services"]
    temporal = services["temporal"]["environment"]
    assert temporal["TEMPORAL_AUTH_AUTHORIZER"] == "default"
    assert temporal["TEMPORAL_AUTH_CLAIM_MAPPER"] == "default"
    assert temporal["TEMPORAL_JWT_KEY_SOURCE1"].startswith("${TEMPORAL_JWT_KEY_SOURCE:?")
    # The server's own system workers need the internal frontend once an authorizer is on.
    assert temporal["USE_INTERNAL_FRONTEND"] == "true"
    assert "internal-frontend" in temporal["TEMPORAL_SERVICES"].split(",")
    assert "7236" not in json.dumps(services["temporal"].get("ports", []))  # never published
    declared = compose["secrets"]
    used: dict[str, str] = {}
    for name, service in services.items():
        for secret in service.get("secrets", []):
            assert secret not in used, f"{secret} is given to both {used[secret]} and {name}"
            used[secret] = name
    tokens = {s: n for s, n in used.items() if not s.endswith("-signing-key")}
    assert {tokens[s]: s for s in tokens} == IDENTITIES
    # Each of the services that act on cases signs with its own key (whereabouts.identity).
    for name in ("worker", "feed", "admin"):
        assert used[f"{name}-signing-key"] == name
        assert services[name]["environment"]["WHEREABOUTS_SIGNING_KEY"] == f"/run/secrets/{name}-signing-key"
    for name, secret in IDENTITIES.items():
        assert declared[secret]["file"].startswith("./secrets/"), secret
        env = services[name]["environment"]
        if name == "temporal-admin":
            assert env["TOKEN_FILE"] == f"/run/secrets/{secret}" and env["TEMPORAL_TLS"] == "false"
        else:
            assert env["WHEREABOUTS_TEMPORAL_API_KEY_FILE"] == f"/run/secrets/{secret}"
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_AUTH_ENABLED"] == "true" and ui["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    for name in ("TEMPORAL_AUTH_PROVIDER_URL", "TEMPORAL_AUTH_CLIENT_ID", "TEMPORAL_AUTH_CLIENT_SECRET"):
        assert ":?" in ui[name], f"{name} must be set, not defaulted"
    codec = services["codec-server"]["environment"]
    assert "TEMPORAL_JWT_KEY_SOURCE" in codec["WHEREABOUTS_CODEC_JWKS_URL"]
    assert "CODEC_TOKEN" not in COMPOSE_FILE.read_text(encoding="utf-8")


def test_admin_step_registers_the_search_attributes_of_search_py(compose):
    registered = dict(re.findall(r"^\s*search_attribute (\w+) (\w+)\s*$", admin_script(compose), re.M))
    assert registered == CLI_TYPES
    assert {k.name for k in ALL_KEYS} == set(registered)


# --- .env.example --------------------------------------------------------------------------------


def test_every_setting_the_code_reads_is_in_env_example():
    wanted = [f"WHEREABOUTS_{name.upper()}" for name in Settings.model_fields]
    missing = [var for var in wanted if var not in env_example_names()]
    assert not missing, f"not set or documented in .env.example: {missing}"


def test_every_variable_the_compose_file_reads_is_in_env_example():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    assert used, "expected ${...} variables in docker-compose.yml"
    missing = sorted(used - env_example_names())
    assert not missing, f"docker-compose.yml reads these, .env.example does not show them: {missing}"


def test_env_example_filled_in_gives_valid_settings(monkeypatch):
    values = dotenv_values(ENV_EXAMPLE)
    values |= {
        "WHEREABOUTS_CODEC_KEYS": new_key_spec("test-1"),
        "WHEREABOUTS_PSEUDONYM_KEY": new_key(),
        "POSTGRES_PASSWORD": "a-password",
        "TEMPORAL_UI_AUTH_CLIENT_SECRET": "a-secret",
        "WHEREABOUTS_ENVIRONMENT": "production",  # as docker-compose.yml runs every container
    }
    empty = [k for k, v in values.items() if not v]
    assert not empty, f"set to nothing (comment them out, or they are empty, not unset): {empty}"
    for key in list(os.environ):
        if key.startswith("WHEREABOUTS_"):
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.smtp_security is SmtpSecurity.STARTTLS  # production refuses plain SMTP
    assert plain_smtp_refused(settings) is None
    assert settings.mail_from.startswith("Whereabouts <")  # the quotes are gone
    assert settings.temporal_namespace == "whereabouts"
    assert settings.decode_permission == "whereabouts:decode"
    # The commented Mailpit lines, for trying it out, are allowed only with their ALLOW_PLAIN.
    mailpit = dict(re.findall(r"^#\s+(WHEREABOUTS_SMTP_\w+)=(\S+)$", ENV_EXAMPLE.read_text(), re.M))
    trial = Settings(**{k.removeprefix("WHEREABOUTS_").lower(): v for k, v in mailpit.items()})
    assert trial.smtp_host == "mailpit" and plain_smtp_refused(trial) is None
    assert plain_smtp_refused(trial.model_copy(update={"smtp_allow_plain": False})) is not None


# --- the image -----------------------------------------------------------------------------------


def test_requirements_lock_pins_the_runtime_dependencies_and_what_they_need():
    lock: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned with ==: {line}"
            lock[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in map(Requirement, project["dependencies"]):
        name = canonicalize_name(dep.name)
        assert name in lock, f"{dep} is not in requirements.lock"
        assert dep.specifier.contains(lock[name], prereleases=True), f"{dep}: lock has {lock[name]}"
    # Where the locked version is the one installed here, what it requires is locked too.
    for name, version in lock.items():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if dist.version != version:
            continue
        for req in map(Requirement, dist.requires or []):
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(req.name) in lock, f"{name} needs {req.name}, not in requirements.lock"


def test_dockerfile_runs_the_worker_as_a_non_root_user_from_the_lock():
    text = (ROOT / "Dockerfile").read_text()
    found = re.search(r"^FROM\s+(\S+)", text, re.M)
    assert found, "the Dockerfile has no FROM line"
    base = found.group(1)
    assert re.match(r"python:3\.11\.\d+-slim", base), base
    assert re.search(r"^USER\s+(?!root|0\b)\S+", text, re.M)
    assert "-r requirements.lock" in text and "--no-deps" in text
    assert re.search(r'^CMD \["python", "worker.py"\]', text, re.M)
    assert re.search(r"^EXPOSE .*\b9464\b", text, re.M)


# --- against the dev server ----------------------------------------------------------------------


async def test_admin_step_creates_namespace_and_search_attributes_and_reruns(compose, dev_env, tmp_path):
    """The admin step's own script, run twice with the real `temporal` CLI against the dev server."""
    namespace = f"wa-{uuid.uuid4().hex[:8]}"
    token = tmp_path / "temporal-admin-token"
    token.write_text("not-checked-by-the-dev-server\n")
    env = os.environ | {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "NAMESPACE": namespace,
        "RETENTION": "30d",
        # As compose sets them: the token read into the CLI's environment, and TLS kept off
        # (with a key the CLI would switch TLS on, and this plaintext server would not answer).
        "TOKEN_FILE": str(token),
        "TEMPORAL_TLS": "false",
    }
    for run in (1, 2):
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            admin_script(compose),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
        assert proc.returncode == 0, f"run {run}:\n{out.decode()}"
        assert f"namespace {namespace} ready" in out.decode()
    service = dev_env.client.operator_service
    listed = await service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    for key in ALL_KEYS:
        want = f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}"
        assert IndexedValueType.Name(listed.custom_attributes[key.name]) == want, key.name
    described = await dev_env.client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    assert described.config.workflow_execution_retention_ttl.ToSeconds() == 30 * 24 * 3600


async def test_worker_metrics_endpoint_after_a_case_closes(dev_env, settings, smtp):
    """A worker wired as worker.py wires it, with Prometheus on a free port: after a case closes
    the endpoint shows the SDK's metrics and the whereabouts_* counters."""
    assert metrics.runtime_for(settings) is None  # no port, no endpoint
    settings.demo_unencrypted = True  # no key under this test's var/: a throwaway demo
    settings.metrics_port = free_port()
    settings.temporal_address = dev_env.client.service_client.config.target_host
    settings.school_day_seconds = FAST_DAY_SECONDS
    runtime = metrics.runtime_for(settings, host="127.0.0.1")
    client = await connect(settings, runtime=runtime)
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"

    def scrape() -> str:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    async with build_worker(client, settings, Deps.from_settings(settings)):
        case = make_case(date.today())
        handle = await client.start_workflow(
            CmeCaseWorkflow.run,
            case,
            id=f"{case_id_of(case)}-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        STARTED.append(handle)
        await until_stage(handle, CmeStage.DAY1_CALL)  # the call is due: staff may record it
        await handle.execute_update(
            CmeCaseWorkflow.record_call,
            CallRecord(outcome="safe_with_parent", reason="ill with flu", by="T. Hale"),
        )
        result: CaseResult = await handle.result()
        assert result.outcome is CmeOutcome.EXPLAINED_ABSENCE
        queue = re.escape(settings.task_queue)
        wanted = {
            "cases started": rf'^whereabouts_cases_started\{{[^}}]*task_queue="{queue}"[^}}]*\}} 1$',
            "cases closed": (
                rf'^whereabouts_cases_closed\{{(?=[^}}]*outcome="explained_absence")'
                rf'(?=[^}}]*task_queue="{queue}")[^}}]*\}} 1$'
            ),
            "SDK workflow completed": (
                rf'^temporal_workflow_completed\{{[^}}]*task_queue="{queue}"[^}}]*\}} 1$'
            ),
        }
        text = ""
        for _ in range(40):  # the SDK records completion just after the result is available
            text = await asyncio.to_thread(scrape)
            if all(re.search(p, text, re.M) for p in wanted.values()):
                break
            await asyncio.sleep(0.25)
        missing = [what for what, p in wanted.items() if not re.search(p, text, re.M)]
        assert not missing, f"{missing} not on {url}:\n" + "\n".join(
            line for line in text.splitlines() if line.startswith(("whereabouts_", "temporal_workflow"))
        )
        assert "# HELP whereabouts_cases_closed" in text
        assert "whereabouts_referrals_filed" not in text  # nothing referred, nothing counted


async def test_failed_email_attempts_are_counted_by_kind(settings):
    """deliver() counts each failed hand-over; here the mail server is down, a temporary failure."""
    buffer = MetricBuffer(1000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    env = ActivityEnvironment()
    env.metric_meter = runtime.metric_meter
    settings.smtp_port = free_port()  # nothing listens there
    settings.smtp_timeout_seconds = 2
    mail = Mail(to="parent@family.example.net", subject="s", text="t", step="day3_letter")
    msg = build_message(settings, mail, "<x@whereabouts.invalid>", datetime.now(UTC))
    with pytest.raises(ApplicationError) as raised:
        await env.run(deliver, settings, msg)
    assert not raised.value.non_retryable
    counted = [
        (u.value, dict(u.attributes).get("kind"))
        for u in buffer.retrieve_updates()
        if u.metric.name == metrics.EMAILS_FAILED
    ]
    assert counted == [(1, "temporary")]
    # Outside an activity (a script, a unit test) the failure is raised and nothing is recorded.
    with pytest.raises(ApplicationError):
        await deliver(settings, msg)
