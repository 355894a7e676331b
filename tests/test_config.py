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


@pytest.mark.parametrize(
    "text, named",
    [
        ("prover:\n  negation_form: sideways\n", "prover.negation_form"),
        ("filters:\n  min_grade: great\n", "filters.min_grade"),
        ("filters:\n  benchmarks: [minif2f, putnam]\n", "filters.benchmarks[1]"),
        ("generator:\n  backend: tgi\n", "generator.backend"),
        ("prover:\n  samples_per_side: 0\n", "prover.samples_per_side"),
        ("filters:\n  jaccard_threshold: 1.5\n", "filters.jaccard_threshold"),
        ("lean:\n  timeout_s: 0\n", "lean.timeout_s"),
        ("generator:\n  gpu_memory_utilization: 0\n", "generator.gpu_memory_utilization"),
        ("prover:\n  sampling:\n    top_p: .nan\n", "prover.sampling.top_p"),
        ("lean:\n  rss_limit_mb: 9000\n", "lean.rss_limit_mb: must be below lean.memory_limit_mb"),
        ("generator:\n  backend: openai\n  model: m\n", "generator.backend: openai needs generator.base_url"),
        ("generator:\n  max_model_len: 1024\n", "generator.max_model_len"),
    ],
)
def test_every_choice_range_and_rule_is_checked_when_read(tmp_path, text, named):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert f"{path}: {named}" in str(err.value)


def test_a_variable_is_named_as_the_user_set_it():
    with pytest.raises(ConfigError) as err:
        load_config(environ={"FLYWHEEL_PROVER__SAMPLES_PER_SIDE": "-3"})
    assert str(err.value).startswith("FLYWHEEL_PROVER__SAMPLES_PER_SIDE=-3 (prover.samples_per_side): must be 1 or more")
    with pytest.raises(ConfigError, match=r"FLYWHEEL_LEAN__TIMEOUT_S=soon \(lean.timeout_s\): expected float"):
        load_config(environ={"FLYWHEEL_LEAN__TIMEOUT_S": "soon"})
    with pytest.raises(ConfigError, match=r"FLYWHEEL_PROVER__SAMPLS=3 \(prover.sampls\): unknown field"):
        load_config(environ={"FLYWHEEL_PROVER__SAMPLS": "3"})


def test_a_file_value_a_variable_replaced_is_not_blamed(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("prover:\n  samples_per_side: 0\n")
    assert load_config(path, environ={"FLYWHEEL_PROVER__SAMPLES_PER_SIDE": "4"}).prover.samples_per_side == 4
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={"FLYWHEEL_LEAN__RSS_LIMIT_MB": "9000"})
    message = str(err.value)
    assert message.startswith("2 problems in the config:")  # every problem at once, not one per try
    assert "FLYWHEEL_LEAN__RSS_LIMIT_MB=9000 (lean.rss_limit_mb): must be below lean.memory_limit_mb" in message
    assert f"{path}: prover.samples_per_side: must be 1 or more, got 0" in message


@pytest.mark.parametrize("train, says", [
    ({"lora_serve": "both"}, "train.lora_serve"),
    ({"device": "tpu"}, "train.device"),
    ({"sides": ["statement", "lemma"]}, "train.sides"),
    ({"lr": 0}, "train.lr"),
    ({"batch_size": 0}, "train.batch_size"),
    ({"lora_dropout": 1.5}, "train.lora_dropout"),
])
def test_training_settings_are_checked_when_read(train, says):
    from flywheel.config import load_config
    from flywheel.errors import ConfigError

    with pytest.raises(ConfigError, match=says.replace(".", r"\.")):
        load_config(overrides={"train": train}, environ={})
