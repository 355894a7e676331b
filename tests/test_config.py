import pytest

from flywheel.config import Config, LeanConfig, load_config
from flywheel.errors import ConfigError


def test_defaults_need_no_file():
    cfg = load_config(environ={})
    assert isinstance(cfg, Config)
    assert cfg.db.url is None
    assert cfg.lean.allowed_axioms == ["propext", "Classical.choice", "Quot.sound"]


def test_yaml_then_environment_then_flags(tmp_path):
    path = tmp_path / "fw.yaml"
    path.write_text("lean:\n  timeout_s: 30\n  workers: 4\ngenerator:\n  backend: vllm\n  model: /m\n")
    env = {"FLYWHEEL_LEAN__WORKERS": "8", "FLYWHEEL_DB_URL": "postgresql+psycopg2://u@h/d"}
    cfg = load_config(path, overrides={"lean": {"timeout_s": 5}}, environ=env)
    assert cfg.lean.timeout_s == 5.0  # flag beats file
    assert cfg.lean.workers == 8  # environment beats file
    assert cfg.generator.backend == "vllm" and cfg.generator.model == "/m"
    assert cfg.db.url == "postgresql+psycopg2://u@h/d"


def test_nested_sections_and_lists_from_environment():
    env = {"FLYWHEEL_FILTERS__BENCHMARKS": "minif2f", "FLYWHEEL_PROVER__SAMPLING__TEMPERATURE": "0.5"}
    cfg = load_config(environ=env)
    assert cfg.filters.benchmarks == ["minif2f"]
    assert cfg.prover.sampling.temperature == 0.5


@pytest.mark.parametrize(
    "text, field",
    [
        ("lean:\n  timeout_s: soon\n", "lean.timeout_s"),
        ("lean:\n  tiemout_s: 3\n", "tiemout_s"),
        ("lean:\n  workers: 2.5\n", "lean.workers"),
        ("lean:\n  allow_native_decide: maybe\n", "lean.allow_native_decide"),
        ("lean: 3\n", "lean"),
    ],
)
def test_bad_values_name_the_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(path) in str(err.value) and field in str(err.value)


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", environ={})
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path, environ={})
    path.write_text("lean: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, environ={})


def test_lean_config_is_its_own_type():
    assert LeanConfig().max_heartbeats == 400000


def test_the_readme_example_config_loads(tmp_path):
    import re

    from flywheel.config import load_config
    from tests.conftest import REPO

    block = re.search(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S).group(1)
    path = tmp_path / "flywheel.yaml"
    path.write_text(block)
    cfg = load_config(path, environ={})
    assert cfg.generator.backend == "vllm" and cfg.lean.workers == 4 and cfg.prover.negation_form == "hyps"
    assert cfg.filters.min_grade == "above average" and cfg.autoformalize.samples == 4


def test_flywheel_config_names_the_file_when_no_flag_does(tmp_path, monkeypatch, capsys):
    from orchestration.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    monkeypatch.setenv("FLYWHEEL_CONFIG", str(bad))
    assert main(["status"]) != 0
    assert f"{bad}: the top level must be a mapping" in capsys.readouterr().err
