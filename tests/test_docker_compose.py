"""The Docker stack's files agree with each other and with the repo (no Docker engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
# Profile `celery` (docs/scaling.md): the broker and the workers, nothing else.
CELERY_SERVICES = {"redis", "airflow-worker"}
# What the image needs; compared as a set so the test does not depend on which exist yet.
EXPECTED_COPY_SOURCES = {
    "pyproject.toml",
    "README.md",
    "airflow.cfg",
    "credit_dw",
    "dags",
    "dbt_project",
    "ingestion",
    "scoring",
    "expectations",
    "sandbox",
    "mdm",
    "reporting",
    "api",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())  # SafeLoader resolves the `<<:` merge keys


def _copy_sources() -> set[str]:
    sources: set[str] = set()
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        sources.update(a.rstrip("/") for a in args[:-1])
    return sources


def test_compose_file_is_valid_for_docker_compose():
    if shutil.which("docker") is None:
        pytest.skip("docker compose CLI not available: no `docker` on PATH")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        reason = (probe.stderr or probe.stdout).strip().splitlines()[:1]
        pytest.skip(f"docker compose CLI not available: {reason[0] if reason else probe.returncode}")
    # Placeholders for the required variables, so this checks the file, not the caller's docker/.env.
    env = {**os.environ, "CREDIT_DW_ENCRYPTION_KEY": "placeholder", "AIRFLOW__CORE__FERNET_KEY": "placeholder"}
    for profile in ([], ["--profile", "celery"]):
        result = subprocess.run(
            ["docker", "compose", "-f", "docker/docker-compose.yml", *profile, "config", "--quiet"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (profile, result.stderr)


def test_required_services_share_one_image(compose):
    services = compose["services"]
    assert "version" not in compose  # obsolete in the Compose specification
    assert {"warehouse", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    builds = {
        name: (services[name].get("image"), repr(services[name].get("build")))
        for name in {"airflow-init", *AIRFLOW_SERVICES}
    }
    assert len(set(builds.values())) == 1, builds
    build = services["airflow-scheduler"]["build"]
    assert build == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_startup_order_and_health(compose):
    services = compose["services"]
    assert services["airflow-init"]["command"] == ["airflow", "db", "migrate"]
    assert services["airflow-init"]["depends_on"] == {"warehouse": {"condition": "service_healthy"}}
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"] == {
            "warehouse": {"condition": "service_healthy"},
            "airflow-init": {"condition": "service_completed_successfully"},
        }, name
    for name in ("warehouse", *AIRFLOW_SERVICES):
        assert services[name]["healthcheck"]["test"], name
    assert "/api/v2/monitor/health" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])


def test_airflow_environment_is_shared_and_complete(compose):
    services = compose["services"]
    envs = [services[name]["environment"] for name in ("airflow-init", *AIRFLOW_SERVICES)]
    assert all(env == envs[0] for env in envs)
    env = envs[0]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for name in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "CREDIT_DW_ENCRYPTION_KEY"):
        assert env[name].startswith("${" + name), f"{name} must come from the environment"
    assert ":?" in env["CREDIT_DW_ENCRYPTION_KEY"]  # required: no default key


def test_postgres_init_script_is_mounted(compose):
    warehouse = compose["services"]["warehouse"]
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in warehouse["volumes"]
    sql = (DOCKER / "postgres-init" / "01-databases.sql").read_text()
    assert re.search(r"CREATE DATABASE credit_dw\b", sql)
    assert "CREATE DATABASE credit_dw_airflow" in sql


def test_dockerfile_copies_exactly_the_project_sources():
    assert _copy_sources() == EXPECTED_COPY_SOURCES


def test_dockerignore_lets_every_copy_source_through():
    lines = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert "*" in lines  # allow-list: everything else (.venv, .env) stays out
    assert allowed == EXPECTED_COPY_SOURCES


def test_the_celery_profile_adds_a_broker_and_workers_on_the_same_image(compose):
    services = compose["services"]
    profiled = {name: service["profiles"] for name, service in services.items() if "profiles" in service}
    assert profiled == {name: ["celery"] for name in CELERY_SERVICES}, "the default stack stays as it was"
    worker, scheduler = services["airflow-worker"], services["airflow-scheduler"]
    assert (worker["image"], worker["build"], worker["environment"]) == (
        scheduler["image"], scheduler["build"], scheduler["environment"])
    assert worker["depends_on"] == {
        "warehouse": {"condition": "service_healthy"},
        "airflow-init": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
    }
    assert worker["deploy"]["replicas"].startswith("${CREDIT_DW_CELERY_WORKERS:-")
    assert "celery_executor.app inspect ping" in " ".join(worker["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]

    env = scheduler["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${CREDIT_DW_AIRFLOW_EXECUTOR:-LocalExecutor}"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    # task states go to Airflow's metadata database, through the driver Airflow itself uses
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    # the image installs the provider from the project's `celery` extra
    assert "['optional-dependencies']['celery']" in (DOCKER / "Dockerfile").read_text()
    extras = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(requirement.startswith("apache-airflow-providers-celery") for requirement in extras["celery"])


def _compose_shell(script: str) -> str:
    return script.replace("$$", "$")  # compose's escape for a literal $


@pytest.mark.parametrize(("executor", "starts"), [("LocalExecutor", False), ("CeleryExecutor", True)])
def test_a_worker_refuses_to_start_unless_the_executor_is_celery(compose, executor, starts):
    shell, flag, script = compose["services"]["airflow-worker"]["command"]
    assert script.endswith("exec airflow celery worker")
    probe = _compose_shell(script).replace("exec airflow celery worker", "echo worker-started")
    result = subprocess.run([shell, flag, probe], env={**os.environ, "AIRFLOW__CORE__EXECUTOR": executor},
                            capture_output=True, text=True)
    assert (result.returncode == 0 and "worker-started" in result.stdout) is starts, result
    if not starts:
        assert "CREDIT_DW_AIRFLOW_EXECUTOR=CeleryExecutor" in result.stderr


def test_every_variable_the_stack_reads_is_in_the_env_example():
    # $${NAME} is compose's escape: the container's shell reads it, not compose
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE_FILE.read_text()))
    documented = set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", (DOCKER / ".env.example").read_text(), re.M))
    assert used and used <= documented, used - documented


def test_every_service_is_documented_and_its_files_exist(compose):
    readme = (DOCKER / "README.md").read_text()
    for name, service in compose["services"].items():
        assert f"| `{name}` |" in readme, f"{name} missing from docker/README.md's services table"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), f"{name}: {source}"
        if build := service.get("build"):
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file(), name
