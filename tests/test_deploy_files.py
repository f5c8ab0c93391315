"""The deployment files agree with the server they deploy.

No container engine or cluster runs here, so the Dockerfile, the compose
file and the Kubernetes manifest are checked for what can be checked
without one: every ``KEYSTONE_*`` variable and every server flag they (and
docs/deployment.md) use exists; the image's entrypoint parses as a server
command line; the files the Dockerfile copies build a complete package; its
health check command works against a real server; the YAML parses and has
the ports, probes, volume and single replica it should (skipped without
PyYAML, which is not a dependency). deploy/nginx.conf runs for real in
tests/test_nginx.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from netsupport import free_port

from keystone_net.serving import config, eventloop

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
KUBERNETES = ROOT / "deploy" / "kubernetes.yaml"
DOC = ROOT / "docs" / "deployment.md"
DEPLOYMENT_FILES = [DOCKERFILE, COMPOSE, KUBERNETES, ROOT / "deploy" / "nginx.conf", DOC]

# The options' variables, and the event loop's (read before the options: serving/eventloop.py).
KNOWN_ENV = {option.env for option in config.OPTIONS} | {eventloop.ENV}
KNOWN_FLAGS = {flag for option in config.OPTIONS for flag in option.flags}

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the environment
    yaml = None

needs_yaml = pytest.mark.skipif(yaml is None, reason="PyYAML is not installed (not a dependency)")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def instruction(name: str) -> list[str]:
    return [args for word, args in dockerfile_instructions() if word == name]


def entrypoint() -> list[str]:
    (args,) = instruction("ENTRYPOINT")
    command: list[str] = json.loads(args)  # exec form, so the server is PID 1
    return command


@pytest.mark.parametrize("path", DEPLOYMENT_FILES, ids=lambda p: p.name)
def test_every_keystone_variable_is_a_server_option(path: Path) -> None:
    used = set(re.findall(r"\bKEYSTONE_[A-Z0-9_]+\b", path.read_text()))
    unknown = used - KNOWN_ENV - {"KEYSTONE_TEST_REMOTE"}
    assert not unknown, f"{path.name} uses variables the server does not read: {unknown}"


def test_the_doc_lists_every_server_option() -> None:
    text = DOC.read_text()
    missing = [o.env for o in config.OPTIONS if o.env not in text or o.flags[0] not in text]
    assert not missing, f"docs/deployment.md does not describe {missing}"


def test_the_image_runs_keystone_server_on_the_volume() -> None:
    assert instruction("FROM") == ["python:3.11-slim"]
    assert any("pip install ." in args for args in instruction("RUN"))
    assert instruction("EXPOSE") == ["50051 8000 9090"]  # gRPC, DynamoDB, metrics
    assert json.loads(instruction("VOLUME")[0]) == ["/var/lib/keystone"]
    command = entrypoint()
    assert command[:2] == ["keystone-server", "serve"]
    parsed = config.parse(command[1:], environ={})
    assert parsed.db_path == "/var/lib/keystone/keystone.db"
    assert parsed.host == "0.0.0.0"
    assert parsed.port == 50051 and parsed.metrics_bind == ("0.0.0.0", 9090)


def test_the_files_the_image_copies_build_the_whole_package(tmp_path: Path) -> None:
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("building a wheel offline needs setuptools in the venv")
    context = tmp_path / "context"
    context.mkdir()
    for args in instruction("COPY"):
        *sources, _ = args.split()
        for source in sources:
            src = ROOT / source.rstrip("/")
            if src.is_dir():
                shutil.copytree(
                    src, context / src.name, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy(src, context / src.name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path / "wheel"), str(context)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "wheel").glob("keystonedb-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("keystone", "keystone_net"):
        for module in (ROOT / package).rglob("*.py"):
            assert module.relative_to(ROOT).as_posix() in names
    assert "keystone_net/_proto/keystone.binpb" in names  # for gRPC reflection
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "keystone-server = keystone_net.__main__:server_main" in (
        zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_the_health_check_command_asks_health(start_server: Any) -> None:
    (args,) = instruction("HEALTHCHECK")
    command = json.loads(args[args.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"] and "localhost:9090/health" in command[2]
    port = free_port()
    server = start_server(None, 0, "--metrics-port", str(port))
    probe = [sys.executable, "-c", command[2].replace(":9090/", f":{port}/")]
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    server.terminate()
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0


@needs_yaml
def test_compose_runs_the_image_with_its_ports_volume_and_health_check() -> None:
    assert yaml is not None
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["keystone"]
    assert service["build"] == "."
    assert {"50051:50051", "8000:8000", "9090:9090"} <= set(service["ports"])
    assert "keystone-data:/var/lib/keystone" in service["volumes"]
    assert "keystone-data" in compose["volumes"]
    assert set(service["environment"]) <= KNOWN_ENV
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and "http://localhost:9090/health" in " ".join(test)
    assert config.config_from({}, {**service["environment"], "KEYSTONE_DB_PATH": "x"})


@needs_yaml
def test_kubernetes_runs_one_replica_with_probes_and_a_claim() -> None:
    assert yaml is not None
    docs = {d["kind"]: d for d in yaml.safe_load_all(KUBERNETES.read_text())}
    assert set(docs) == {"Service", "Deployment", "PersistentVolumeClaim"}
    deployment = docs["Deployment"]["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"]["type"] == "Recreate"
    pod = deployment["template"]["spec"]
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 50051, "metrics": 9090}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert {e["name"] for e in container["env"]} <= KNOWN_ENV
    flags = [a for a in container["args"] if a.startswith("--")]
    assert set(flags) <= KNOWN_FLAGS
    config.parse([*entrypoint()[1:], *container["args"]], environ={})
    claim = next(v for v in pod["volumes"] if v["name"] == "data")["persistentVolumeClaim"]
    assert claim["claimName"] == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert docs["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    service_ports = {p["name"]: p["port"] for p in docs["Service"]["spec"]["ports"]}
    assert service_ports == {"grpc": 50051, "metrics": 9090}
    assert docs["Service"]["spec"]["selector"] == deployment["selector"]["matchLabels"]
    shutdown = next(e for e in container["env"] if e["name"] == "KEYSTONE_SHUTDOWN_TIMEOUT")
    assert pod["terminationGracePeriodSeconds"] > float(shutdown["value"])


def test_commands_in_the_doc_use_real_flags() -> None:
    text = DOC.read_text().replace("\\\n", " ")
    commands = re.findall(r"(?:keystone-server|python -m keystone_net) serve[^\n`]*", text)
    assert commands
    for command in commands:
        words = shlex.split(command.split("#")[0].replace("\\", ""))
        flags = [w.split("=")[0] for w in words if w.startswith("--")]
        assert set(flags) <= KNOWN_FLAGS, command
