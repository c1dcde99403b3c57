"""The deployment files stay true to the code and valid for their tools (no Docker or cluster needed).

docker-compose.yml, deploy/k8s/ and the Dockerfile are read as data: every WORKBENCH_* variable they set is a
setting, every `workbench ...` they run parses with the CLI, every worker pool serves a task queue the code knows,
images are pinned, long-running services have health checks, and both files validate against their published
schemas (compose-spec as vendored by check-jsonschema, Kubernetes' as shipped by kubernetes-validate).
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import typer
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from cli.main import app
from workbench.components import components
from workbench.config import REPO_ROOT, Settings
from workers.queues import Queue

COMPOSE = REPO_ROOT / "docker-compose.yml"
K8S = REPO_ROOT / "deploy" / "k8s"
DOCKERFILE = REPO_ROOT / "Dockerfile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
HEALTHCHECK = REPO_ROOT / "deploy" / "docker" / "healthcheck.py"
SETTINGS = {f"WORKBENCH_{name.upper()}" for name in Settings.model_fields}
SECRET_LIKE = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_KEY|DATABASE_URL")
K8S_VERSIONS = ["1.30", kubernetes_validate.utils.latest_version()]  # oldest we support, newest the tool knows


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # SafeLoader resolves the `<<:` merge keys compose uses too


def interpolate(text: str) -> str:
    """Compose's ${VAR:-default} -> default, ${VAR:?message} and ${VAR} -> <VAR> (a placeholder)."""
    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        return rest if op in (":-", "-") else f"<{name}>"
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", one, text)


def app_services() -> dict[str, dict[str, Any]]:
    """Compose services running the Workbench image (built from the Dockerfile)."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def one_shot_services() -> set[str]:
    """Services others wait for to complete: jobs, not long-running."""
    return {target for svc in compose()["services"].values() for target, dep in (svc.get("depends_on") or {}).items()
            if dep.get("condition") == "service_completed_successfully"}


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                yield path, doc


def k8s_workloads() -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, container) for every container of every Deployment and Job."""
    for _, doc in k8s_documents():
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc["metadata"]["name"], container


def k8s_config_data() -> dict[str, str]:
    return {k: v for _, doc in k8s_documents() if doc["kind"] == "ConfigMap" for k, v in doc["data"].items()}


def dockerfile_env() -> dict[str, str]:
    """The ENV of the Dockerfile (`ENV A=1 B=2`, continued lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.strip().startswith("ENV "):
            env.update(dict(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line)))
    return env


def commands() -> list[tuple[str, list[str]]]:
    """Every `workbench` command line the deployment runs: compose `command`s and k8s `args` (the image's
    ENTRYPOINT is `workbench`)."""
    found = [(f"compose:{name}", [interpolate(str(a)) for a in svc["command"]])
             for name, svc in app_services().items()]
    found += [(f"k8s:{name}", container["args"]) for name, container in k8s_workloads()]
    return found


def worker_pools() -> dict[str, list[str]]:
    """Where a worker runs -> the queues it serves (`workbench worker --queues a,b`)."""
    pools = {}
    for where, argv in commands():
        if argv[0] == "worker":
            assert "--queues" in argv, f"{where}: a worker without --queues serves every queue"
            pools[where] = argv[argv.index("--queues") + 1].split(",")
    return pools


# ---- against the code ------------------------------------------------------------------------------------------

def test_every_workbench_variable_is_a_setting() -> None:
    used: dict[str, str] = {}
    for name, svc in compose()["services"].items():
        for var in svc.get("environment") or {}:
            used[var] = f"compose:{name}"
    for name, container in k8s_workloads():
        for entry in container.get("env", []):
            used[entry["name"]] = f"k8s:{name}"
    used.update(dict.fromkeys(k8s_config_data(), "k8s ConfigMap"))
    used.update(dict.fromkeys(dockerfile_env(), "Dockerfile"))
    for text, where in [(ENV_EXAMPLE.read_text(), ".env.example"),
                        ((REPO_ROOT / "docs" / "deploy.md").read_text(), "docs/deploy.md")]:
        used.update(dict.fromkeys(re.findall(r"\bWORKBENCH_[A-Z0-9_]+", text), where))
    unknown = {var: where for var, where in used.items() if var.startswith("WORKBENCH_") and var not in SETTINGS}
    assert not unknown, f"not settings in workbench/config.py: {unknown}"


def test_the_values_set_are_valid_settings() -> None:
    def check(env: dict[str, Any], where: str) -> None:
        values = {k: interpolate(str(v)) for k, v in env.items() if k.startswith("WORKBENCH_") and v is not None}
        # Read as the container reads them: through the environment (lists are JSON there), and only these.
        saved = {k: v for k, v in os.environ.items() if k.startswith("WORKBENCH_")}
        for k in saved:
            del os.environ[k]
        os.environ.update(values)
        try:
            Settings(_env_file=None)  # type: ignore[call-arg]
        except Exception as exc:  # pydantic's ValidationError names the field
            pytest.fail(f"{where}: {exc}")
        finally:
            for k in values:
                os.environ.pop(k, None)
            os.environ.update(saved)

    base = dockerfile_env()
    for name, svc in app_services().items():
        check({**base, **svc["environment"]}, f"compose:{name}")
    for name, container in k8s_workloads():
        plain = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        check({**base, **k8s_config_data(), **plain}, f"k8s:{name}")


# Typer builds a click command tree (recent typer versions on a click of their own, `typer._click`): it is walked
# through the click API the command objects carry, not through an `import click` that may be another copy.

def is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def resolve_command(argv: list[str]) -> tuple[Any, list[str], list[str]]:
    """Walk the CLI's groups along `argv`: (leaf command, its arguments, the command path)."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(argv)
    while is_group(command) and rest and not rest[0].startswith("-"):
        sub = command.get_command(command.context_class(command), rest[0])
        assert sub is not None, f"`workbench {' '.join(path + [rest[0]])}` is not a command"
        command, path, rest = sub, path + [rest.pop(0)], rest
    return command, rest, path


def test_every_command_run_exists_in_the_cli() -> None:
    for where, argv in commands():
        command, rest, path = resolve_command(argv)
        assert path and not is_group(command), f"{where}: `workbench {' '.join(argv)}` is not a command"
        try:  # parses the options and arguments as the CLI would (unknown option, missing value...), runs nothing
            command.make_context(" ".join(["workbench", *path]), list(rest))
        except Exception as exc:  # click's UsageError / BadParameter
            message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
            pytest.fail(f"{where}: `workbench {' '.join(argv)}`: {message}")


@pytest.mark.parametrize("argv, option", [(["worker"], "--queues"), (["api"], "--host"), (["api"], "--port")])
def test_the_options_the_deployment_relies_on_exist(argv: list[str], option: str) -> None:
    command, _, path = resolve_command(argv)
    assert path == argv, f"`workbench {' '.join(argv)}` is not a command"
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert option in options, f"`workbench {' '.join(argv)}` has no {option}; the deployment files pass it"


def test_worker_pools_serve_the_task_queues_the_code_uses() -> None:
    # The starter sends workflows and bookkeeping to `reports`, each component to its spec's queue and batch
    # workflows to `batch`: each must have a pool, or that work waits forever. Names come from workers/queues.py.
    needed = {Queue.REPORTS.value, Queue.BATCH.value} | {Queue(spec.queue).value for spec in components.specs()}
    known = {q.value for q in Queue}
    pools = worker_pools()
    for where, queues in pools.items():
        assert set(queues) <= known, f"{where}: unknown queues {set(queues) - known}"
        assert len(queues) == 1, f"{where}: one queue per pool, so each scales on its own"
    for system in ("compose", "k8s"):
        served = {q for where, queues in pools.items() if where.startswith(system) for q in queues}
        assert needed <= served, f"{system}: no worker pool for {needed - served}"
    assert {q for w, qs in pools.items() if w.startswith("compose") for q in qs} == \
        {q for w, qs in pools.items() if w.startswith("k8s") for q in qs}, "compose and k8s run different pools"


def seconds(value: str | int) -> float:
    if isinstance(value, int):
        return value
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value))


def test_workers_get_longer_to_stop_than_their_drain() -> None:
    # The drain is the setting's default unless the service sets it (compose environment, k8s env or ConfigMap).
    variable = "WORKBENCH_WORKER_GRACEFUL_SHUTDOWN_SECONDS"
    default = Settings.model_fields["worker_graceful_shutdown_seconds"].default
    for name, svc in app_services().items():
        if svc["command"][0] == "worker":
            drain = float((svc.get("environment") or {}).get(variable) or default)
            assert seconds(svc.get("stop_grace_period", "10s")) > drain, f"compose:{name} is killed mid-drain"
    configmap = {k: v for _, doc in k8s_documents() if doc["kind"] == "ConfigMap" for k, v in doc["data"].items()}
    for _, doc in k8s_documents():
        if doc["kind"] == "Deployment" and doc["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker":
            env = {e["name"]: e.get("value") for e in doc["spec"]["template"]["spec"]["containers"][0].get("env", [])}
            drain = float(env.get(variable) or configmap.get(variable) or default)
            grace = doc["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
            assert grace > drain, f"{doc['metadata']['name']} is killed mid-drain"


def test_the_api_readiness_path_is_a_route() -> None:
    from api.routes.health import router

    paths = {getattr(route, "path", None) for route in router.routes}
    for name, container in k8s_workloads():
        probe = container.get("readinessProbe", {}).get("httpGet")
        if probe:
            assert probe["path"] in paths, f"{name}: readiness probe on {probe['path']}, routes are {paths}"


def test_postgres_init_creates_the_databases_the_stack_uses() -> None:
    script = (REPO_ROOT / "deploy" / "postgres" / "init-databases.sh").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+)", script))
    services = compose()["services"]
    url = services["api"]["environment"]["WORKBENCH_DATABASE_URL"]
    wanted = {url.rsplit("/", 1)[1], services["temporal"]["environment"]["DBNAME"],
              services["temporal"]["environment"]["VISIBILITY_DBNAME"]}
    assert wanted <= created
    mounted = " ".join(services["postgres"]["volumes"])
    assert "deploy/postgres/init-databases.sh:/docker-entrypoint-initdb.d/" in mounted


# ---- compose: order, health, pins, secrets ----------------------------------------------------------------------

def test_long_running_services_have_health_checks() -> None:
    one_shots = one_shot_services()
    assert {"migrate", "temporal-schema", "temporal-namespace"} <= one_shots
    for name, svc in compose()["services"].items():
        if name not in one_shots:
            assert "healthcheck" in svc and not svc["healthcheck"].get("disable"), f"{name} has no health check"


def test_services_wait_for_what_they_need() -> None:
    services = compose()["services"]
    one_shots = one_shot_services()
    for name, svc in services.items():
        for target, dep in (svc.get("depends_on") or {}).items():
            condition = dep.get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), f"{name} -> {target}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}, which has no health check"
            else:
                assert target in one_shots and "healthcheck" not in services[target]
    for name, svc in app_services().items():
        if name != "migrate":
            deps = svc["depends_on"]
            assert deps["migrate"]["condition"] == "service_completed_successfully", name
            assert deps["temporal-namespace"]["condition"] == "service_completed_successfully", name
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"


def pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
    return bool(name) and bool(tag) and tag != "latest" and bool(re.search(r"\d", tag))


def test_images_are_pinned() -> None:
    images = {f"compose:{n}": interpolate(s["image"]) for n, s in compose()["services"].items()}
    images |= {f"k8s:{n}": c["image"] for n, c in k8s_workloads()}
    text = DOCKERFILE.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for i, base in enumerate(re.findall(r"^FROM (\S+)", text, re.M)):
        images[f"Dockerfile FROM #{i}"] = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
    unpinned = {where: image for where, image in images.items() if not pinned(image)}
    assert not unpinned, f"pin these to a version: {unpinned}"


def test_no_secret_is_committed() -> None:
    for name, svc in compose()["services"].items():
        for var, value in (svc.get("environment") or {}).items():
            if SECRET_LIKE.search(var) and value is not None:
                # A secret is interpolated from .env and required there: no inline value, no default.
                assert re.search(r"\$\{\w+:\?", str(value)), f"compose:{name} {var} must come from .env (${{X:?}})"
                assert ":-" not in str(value), f"compose:{name} {var} has a default"
    for var in dockerfile_env():
        assert not SECRET_LIKE.search(var), f"Dockerfile bakes {var} into the image"
    assert not [doc for _, doc in k8s_documents() if doc["kind"] == "Secret"], "Secrets are created, not committed"
    for var in k8s_config_data():
        assert not SECRET_LIKE.search(var), f"{var} belongs in the Secret, not the ConfigMap"
    for name, container in k8s_workloads():
        for entry in container.get("env", []):
            if SECRET_LIKE.search(entry["name"]):
                assert "secretKeyRef" in entry.get("valueFrom", {}), f"k8s:{name} {entry['name']} not from a Secret"
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            var, _, value = line.partition("=")
            assert not SECRET_LIKE.search(var) or value.startswith("change-me"), f".env.example: {var} placeholder"
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", ".data"} <= set(ignored)


def test_the_image_is_for_every_role() -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["workbench"]' in text
    assert re.search(r"^USER (?!root|0\b)\w+", text, re.M), "runs as root"
    assert "workbench kernel install" in text and re.search(r"apt-get install[^&]*\bchromium\b", text)
    assert dockerfile_env()["WORKBENCH_DATA_DIR"] == "/data" and 'VOLUME ["/data"]' in text
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage: build tools stay out of the final image"


PACKAGES = ("workbench", "workers", "api", "cli")  # pyproject's [tool.setuptools.packages.find] include


def test_the_wheel_carries_every_file_of_the_packages_and_the_image_the_rest(tmp_path: Path) -> None:
    """A wheel built from pyproject.toml holds every file of the packages (code, templates, static files, models,
    migrations: `package-data` misses none). `kernels/` and `notebooks/` live outside the packages and the code
    finds them beside its source tree, so the image installs that tree in place and copies both (docs/deploy.md)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "src"  # a copy: building in the repository would leave build/ and egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, source / package, ignore=junk)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("workbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    files = {path.relative_to(source).as_posix() for package in PACKAGES for path in (source / package).rglob("*")
             if path.is_file()}
    assert files - names == set(), "files of the packages missing from the wheel (pyproject package-data)"
    assert not {n for n in names if n.startswith(("kernels/", "notebooks/"))}  # if they move in, update the docs

    text = DOCKERFILE.read_text()
    assert "COPY kernels ./kernels" in text and "COPY notebooks ./notebooks" in text
    assert "pip install --no-deps --editable ." in text


# ---- published schemas ---------------------------------------------------------------------------------------

def test_compose_file_matches_the_compose_spec() -> None:
    schema = get_builtin_schema("vendor.compose-spec")  # compose-spec's JSON schema, vendored by check-jsonschema
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, errors


def test_manifests_match_the_kubernetes_schemas() -> None:
    for path, doc in k8s_documents():
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.name} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): "
                            f"{'.'.join(map(str, exc.path))}: {exc.message}")


def test_kustomization_lists_the_manifests() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    top = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == top, "every manifest at the top of deploy/k8s is applied by kustomize (Jobs live in jobs/)"


# ---- k8s workloads ---------------------------------------------------------------------------------------------

def test_workloads_have_probes_and_resources() -> None:
    for _, doc in k8s_documents():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            where = f"{doc['metadata']['name']}/{container['name']}"
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{where} {kind}"
            if doc["kind"] == "Deployment":
                assert "readinessProbe" in container and "livenessProbe" in container, where
            refs = {ref["configMapRef"]["name"] for ref in container.get("envFrom", []) if "configMapRef" in ref}
            assert refs == {"workbench-config"}, where


def test_every_worker_pool_has_an_autoscaler_and_a_disruption_budget() -> None:
    docs = [doc for _, doc in k8s_documents()]
    workers = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"
               and d["spec"]["template"]["spec"]["containers"][0]["args"][0] == "worker"}
    assert len(workers) >= 3
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    for name, deployment in workers.items():
        assert name in hpas, f"{name} has no HPA"
        assert hpas[name]["spec"]["minReplicas"] <= hpas[name]["spec"]["maxReplicas"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        matching = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, f"{name}: {len(matching)} PodDisruptionBudgets"


def test_the_api_service_selects_the_api_pods() -> None:
    docs = [doc for _, doc in k8s_documents()]
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "workbench-api")
    api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "workbench-api")
    assert service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    ports = {p["name"] for c in api["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    assert service["spec"]["ports"][0]["targetPort"] in ports


# ---- the health check script the image runs ---------------------------------------------------------------------

def healthcheck_module() -> Any:
    spec = importlib.util.spec_from_file_location("workbench_healthcheck", HEALTHCHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worker_health_means_a_connection_to_temporal() -> None:
    check = healthcheck_module()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    polling = header + "   0: 0200000A:A1B2 0300000A:1C41 01 00000000:00000000 00:00000000 00000000 10001 0 1\n"
    closed = header + "   0: 0200000A:A1B2 0300000A:1C41 06 00000000:00000000 00:00000000 00000000 10001 0 1\n"
    to_postgres = header + "   0: 0200000A:A1B2 0400000A:1538 01 00000000:00000000 00:00000000 00000000 10001 0 1\n"
    assert check.established_to(7233, [polling])
    assert not check.established_to(7233, [closed, to_postgres])


def test_the_health_check_finds_the_role_of_the_container() -> None:
    check = healthcheck_module()
    assert check.role([["/sbin/docker-init", "--", "workbench", "worker", "--queues", "ai"],
                       ["/opt/venv/bin/python", "/opt/venv/bin/workbench", "worker", "--queues", "ai"]]) == "worker"
    assert check.role([["/opt/venv/bin/python", "/opt/venv/bin/workbench", "api", "--host", "0.0.0.0"]]) == "api"
    assert check.role([["/opt/venv/bin/python", "/opt/venv/bin/workbench", "db", "upgrade"]]) is None


def test_the_dashboard_and_scrape_config_use_metrics_the_code_exports() -> None:
    import json

    from prometheus_client import REGISTRY

    import workers.metrics  # noqa: F401  (registers the worker's metrics in the default registry)
    from api.main import create_app

    api_registry = create_app(Settings()).state.metrics_registry
    exported = {m.name for m in REGISTRY.collect()} | {m.name for m in api_registry.collect()}
    dashboard = json.loads((REPO_ROOT / "deploy/monitoring/grafana/workbench-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bworkbench_[a-z_]+", target["expr"])}
    base = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}
    assert len(base) >= 6 and base <= exported, base - exported
    # The dashboard's temporal_* (the SDK's own metrics) are checked against a live export in
    # tests/integration/test_metrics_health.py.
    scrape = yaml.safe_load((REPO_ROOT / "deploy/monitoring/prometheus.yml").read_text())
    ports = {job["job_name"]: {t.rpartition(":")[2] for c in job.get("static_configs", []) for t in c["targets"]}
             | {str(c["port"]) for c in job.get("dns_sd_configs", [])} for job in scrape["scrape_configs"]}
    env = compose()["x-workbench-env"]
    assert ports == {
        "workbench-api": {"8000"},  # the API's own /metrics
        "workbench-workers": {env["WORKBENCH_WORKER_HEALTH_PORT"]},  # each worker's health and metrics endpoint
        "temporal-sdk": {env.get("WORKBENCH_TEMPORAL_METRICS_PORT")},  # the SDK's metrics of the API and workers
    }
