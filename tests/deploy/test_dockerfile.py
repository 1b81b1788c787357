"""The Dockerfile, read statically (no Docker daemon is needed), and its entry point run.

The entry point's command line is parsed by the server's own flag parser, so the image
is checked to start the server the way ``tensorflow/serving`` starts its own.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.flags import ServerOptions, parse_flags
from tests.deploy.conftest import REPO_ROOT, require_tool

DOCKERFILE = REPO_ROOT / "Dockerfile"
ENTRYPOINT_SCRIPT = REPO_ROOT / "deploy" / "docker" / "entrypoint.sh"
DEFAULTS = ServerOptions()


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: comments dropped, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    base, name, body = "", None, list[Instruction]()
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            if base:
                stages.append(Stage(base=base, name=name, instructions=tuple(body)))
            words = arguments.split()
            base = words[0]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            body = []
        elif base:
            body.append(Instruction(keyword=keyword, arguments=arguments.strip()))
    stages.append(Stage(base=base, name=name, instructions=tuple(body)))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_build_stage_is_separate_and_runtime_stage_is_slim_python(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    runtime = stages[-1]
    assert runtime.base.startswith("python:") and "slim" in runtime.base
    copied_from = {
        argument.split()[0].removeprefix("--from=")
        for argument in runtime.all("COPY")
        if argument.startswith("--from=")
    }
    assert copied_from, "the runtime stage copies nothing from an earlier stage"
    assert copied_from <= {stage.name for stage in stages[:-1]}


def test_the_code_is_the_last_layer_copied_and_the_dependencies_come_from_install_requires_alone(
    stages: list[Stage],
) -> None:
    """A change to the code rebuilds one small layer: the dependencies' stage sees no code."""
    by_name = {stage.name: stage for stage in stages}

    def sources(stage: str) -> set[str]:
        return {
            source for argument in by_name[stage].all("COPY") for source in argument.split()[:-1]
        }

    assert sources("requirements") == {"setup.cfg", "deploy/docker/requirements_from_setup_cfg.py"}
    # Only the list of runtime requirements, so that a change to setup.cfg's test extras
    # (or anything else but install_requires) keeps the dependencies' layer.
    assert sources("dependencies") == {
        "deploy/docker/build-settings/",
        "--from=requirements",
        "/requirements.txt",
    }
    runtime_copies = stages[-1].all("COPY")
    assert runtime_copies[0].startswith("--from=dependencies ")
    assert runtime_copies[-1].startswith("--from=build ")


def test_runtime_stage_runs_as_a_non_root_user(stages: list[Stage]) -> None:
    user = stages[-1].last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "a numeric USER lets Kubernetes' runAsNonRoot verify it"


def test_exposes_the_servers_default_ports(stages: list[Stage]) -> None:
    exposed = {int(port.split("/")[0]) for port in " ".join(stages[-1].all("EXPOSE")).split()}
    assert exposed == {DEFAULTS.port, DEFAULTS.rest_api_port}


def test_healthcheck_runs_the_bundled_check(stages: list[Stage]) -> None:
    healthcheck = stages[-1].last("HEALTHCHECK")
    assert "CMD" in healthcheck and "--start-period=" in healthcheck
    command = json.loads(healthcheck.split("CMD", 1)[1])
    installed = {words[-1]: words[-2] for words in (a.split() for a in stages[-1].all("COPY"))}
    assert Path(installed[f"/usr/local/bin/{command[0]}"]) == Path("deploy/docker/healthcheck.py")


def test_entrypoint_is_the_bundled_script_in_exec_form(stages: list[Stage]) -> None:
    entrypoint = json.loads(stages[-1].last("ENTRYPOINT"))
    installed = {words[-1]: words[-2] for words in (a.split() for a in stages[-1].all("COPY"))}
    assert Path(installed[f"/usr/local/bin/{entrypoint[0]}"]) == ENTRYPOINT_SCRIPT.relative_to(
        REPO_ROOT
    )
    assert ENTRYPOINT_SCRIPT.stat().st_mode & stat.S_IXUSR
    assert not stages[-1].all("CMD"), "a CMD would be passed to the entry point as flags"


def test_every_copied_path_exists_and_is_in_the_build_context(stages: list[Stage]) -> None:
    included = [
        line[1:].rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for stage in stages:
        for argument in stage.all("COPY"):
            words = [word for word in argument.split() if not word.startswith("--")]
            if any(word.startswith("--from=") for word in argument.split()):
                continue
            for source in words[:-1]:
                source = source.rstrip("/")
                assert (REPO_ROOT / source).exists(), source
                assert any(source == root or source.startswith(root + "/") for root in included), (
                    f"{source} is excluded by .dockerignore"
                )


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        require_tool("hadolint", "hadolint is not on PATH")
        return
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def run_entrypoint(tmp_path: Path, *args: str, **env: str) -> list[str]:
    """Run entrypoint.sh with a stand-in ``python`` that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    recorded = tmp_path / "argv.json"
    fake_python = bin_dir / "python"
    fake_python.write_text(
        "#!/bin/sh\n"
        f"exec {shutil.which('python3')} -c "
        f'\'import json, sys; json.dump(sys.argv[1:], open("{recorded}", "w"))\' "$@"\n'
    )
    fake_python.chmod(0o755)
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AIOSERVING_PORT_FILE": str(tmp_path / "ports" / "ports.json"),
        **env,
    }
    subprocess.run(["sh", str(ENTRYPOINT_SCRIPT), *args], env=environment, check=True)
    argv: list[str] = json.loads(recorded.read_text())
    assert argv[:2] == ["-m", "server"]
    return argv[2:]


def test_entrypoint_serves_model_name_under_model_base_path_like_tf_serving(
    tmp_path: Path,
) -> None:
    argv = run_entrypoint(tmp_path, MODEL_NAME="mnist", MODEL_BASE_PATH="/srv/models")
    options = parse_flags(argv)
    assert options.model_name == "mnist"
    assert options.model_base_path == "/srv/models/mnist"
    assert (options.port, options.rest_api_port) == (8500, 8501)
    assert options.port_file == tmp_path / "ports" / "ports.json"
    assert (tmp_path / "ports").is_dir()


def test_entrypoint_defaults_are_tf_servings(tmp_path: Path) -> None:
    options = parse_flags(run_entrypoint(tmp_path))
    assert options.model_name == "model"
    assert options.model_base_path == "/models/model"


def test_entrypoint_flags_win_over_the_environment(tmp_path: Path) -> None:
    argv = run_entrypoint(
        tmp_path, "--model_name=m", "--model_base_path=/models/m", "--rest_api_port=9001"
    )
    options = parse_flags(argv)
    assert (options.model_name, options.model_base_path) == ("m", "/models/m")
    assert options.rest_api_port == 9001


@pytest.mark.parametrize(
    "flags", [["--model_config_file=/c/models.config"], ["--config", "/c/models.config"]]
)
def test_entrypoint_leaves_model_flags_out_with_a_config_file(
    tmp_path: Path, flags: list[str]
) -> None:
    options = parse_flags(run_entrypoint(tmp_path, *flags))
    assert options.model_config_file == Path("/c/models.config")
    assert options.model_base_path is None


def test_entrypoint_runs_a_command_that_is_not_a_flag(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    subprocess.run(["sh", str(ENTRYPOINT_SCRIPT), "touch", str(marker)], check=True)
    assert marker.exists()


DOCKER_STOP_TIMEOUT_SECONDS = 10  # `docker stop` without -t


def test_entrypoint_drain_and_grace_fit_docker_stops_default_timeout(tmp_path: Path) -> None:
    options = parse_flags(run_entrypoint(tmp_path))
    # The unload after the grace takes time too: the two must leave some of the 10 s.
    assert options.drain_seconds + options.grace_seconds <= DOCKER_STOP_TIMEOUT_SECONDS - 2


def test_entrypoint_drain_and_grace_come_from_the_environment_and_flags_win(
    tmp_path: Path,
) -> None:
    options = parse_flags(
        run_entrypoint(tmp_path, AIOSERVING_DRAIN_SECONDS="20", AIOSERVING_GRACE_SECONDS="30")
    )
    assert (options.drain_seconds, options.grace_seconds) == (20, 30)
    options = parse_flags(run_entrypoint(tmp_path, "--grace_seconds=1"))
    assert options.grace_seconds == 1


def test_build_stage_copies_every_package_that_setup_cfg_installs(stages: list[Stage]) -> None:
    import configparser

    setup = configparser.ConfigParser()
    setup.read(REPO_ROOT / "setup.cfg")
    packages = {
        name.strip()
        for name in setup.get("options.packages.find", "include").split()
        if "." not in name
    }
    modules = {f"{name.strip()}.py" for name in setup.get("options", "py_modules").split()}
    (build,) = [stage for stage in stages if stage.name == "build"]
    copied = {
        source.rstrip("/")
        for argument in build.all("COPY")
        for source in argument.split()[:-1]
        if not source.startswith("--")
    }
    assert packages | modules <= copied, sorted((packages | modules) - copied)
