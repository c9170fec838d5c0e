"""Type-confused parameter files give clean validation errors naming the key, never a crash."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.validation import ParameterValidationError, ParameterValidator

from dnn_pipelines.parameters import tree_problems
from tests.conftest import copy_project

CONFUSED_VALUES = [None, "", "abc", -1, 0, -0.5, 1e12, 3.5, True, [], [1, "a"], {"x": 1}, "1e-3"]


def _leaves(tree: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in _leaves(value, (*path, key))]
    if isinstance(tree, list) and tree:
        return [leaf for index, value in enumerate(tree) for leaf in _leaves(value, (*path, index))]
    return [path]


def _set(tree: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        tree = tree[part]
    tree[path[-1]] = value


@pytest.fixture(scope="module")
def base_parameters(tmp_path_factory) -> dict[str, Any]:
    project = copy_project(tmp_path_factory.mktemp("fuzz") / "project")
    return project.context(env="base").config_loader["parameters"]


@pytest.fixture(scope="module")
def validator(registered_pipelines) -> ParameterValidator:
    return ParameterValidator(registered_pipelines)


def test_base_parameters_are_valid(base_parameters, validator):
    validated = validator.validate_raw_params(copy.deepcopy(base_parameters))
    assert set(validated) == set(base_parameters)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_confused_values_are_rejected_cleanly_or_accepted(base_parameters, validator, data):
    parameters = copy.deepcopy(base_parameters)
    leaves = _leaves(parameters)
    mutations = data.draw(
        st.lists(
            st.tuples(st.sampled_from(leaves), st.sampled_from(CONFUSED_VALUES)),
            min_size=1,
            max_size=3,
        )
    )
    for path, value in mutations:
        _set(parameters, path, copy.deepcopy(value))
    try:
        validator.validate_raw_params(parameters)
    except ParameterValidationError as error:
        message = str(error)
        # A clean error comes from the typed models: it names the key and what is allowed.
        clean = ("invalid value(s)", "seed = ", "value is None but type is not Optional")
        assert any(sign in message for sign in clean), message
        assert "Traceback" not in message
        assert any(str(path[0]) in message for path, _ in mutations), message


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ("vanishing_gradient", "n_layers"),
            "abc",
            "n_layers = 'abc': Input should be a valid integer",
        ),
        (("dropout", "training", "epochs"), -1, "epochs = -1: Input should be greater than"),
        (("seed",), "123", "seed = '123': Input should be a valid integer"),
        (("activations", "classifier", "hidden_layer_sizes"), {"x": 1}, "hidden_layer_sizes"),
    ],
)
def test_a_confused_value_names_its_key(base_parameters, validator, path, value, expected):
    parameters = copy.deepcopy(base_parameters)
    _set(parameters, path, value)
    with pytest.raises(ParameterValidationError, match=re.escape(expected)):
        validator.validate_raw_params(parameters)


# ---------------------------------------------------------------- the whole tree, every depth


def _typo(key: str) -> str:
    """A misspelling a person makes: one letter dropped (or doubled when there is one)."""
    return key[:-1] if len(key) > 1 else key * 2


def _dict_paths(tree: Any, path: tuple = ()) -> list[tuple]:
    """Every key path whose value is reached through dicts only (depth 1 and deeper)."""
    paths = []
    for key, value in tree.items():
        paths.append((*path, key))
        if isinstance(value, dict):
            paths.extend(_dict_paths(value, (*path, key)))
    return paths


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_a_misspelt_key_at_any_depth_is_named_with_the_closest_key(base_parameters, data):
    parameters = copy.deepcopy(base_parameters)
    path = data.draw(st.sampled_from(_dict_paths(parameters)))
    parent = parameters
    for part in path[:-1]:
        parent = parent[part]
    wrong = _typo(str(path[-1]))
    if wrong in parent:
        return  # the "typo" is another real key
    parent[wrong] = parent.pop(path[-1])
    problems = "\n".join(tree_problems(parameters))
    shown = ".".join(str(part) for part in (*path[:-1], wrong))
    assert f"  - {shown}: unknown" in problems, problems
    assert f"did you mean `{path[-1]}`?" in problems, problems


def test_the_shipped_parameters_of_every_env_have_no_problem(tmp_path):
    project = copy_project(tmp_path / "project")
    for env in ("base", "local", "test", "offline"):
        parameters = project.context(env=env).config_loader["parameters"]
        assert tree_problems(dict(parameters)) == [], env


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sed": 7}, "  - sed: unknown parameter; did you mean `seed`?"),
        (
            {"dropout": {"trainig": {}}},
            "  - dropout.trainig: unknown key; did you mean `training`?",
        ),
        (
            {"activations": {"instances": {"rleu": {}}}},
            "  - activations.instances.rleu: unknown key; did you mean `relu`?",
        ),
        (
            {"activations": {"moons": {"noise": float("inf")}}},
            "  - activations.moons.noise = inf: Input should be a finite number",
        ),
        (
            {"vanishing_gradient": {"n_units": "many"}},
            "  - vanishing_gradient.n_units = 'many': Input should be a valid integer",
        ),
    ],
)
def test_each_kind_of_problem_reads_as_one_line(base_parameters, change, expected):
    parameters = copy.deepcopy(base_parameters)

    def merge(tree: dict, update: dict) -> None:
        for key, value in update.items():
            if isinstance(value, dict) and value and isinstance(tree.get(key), dict):
                merge(tree[key], value)
            else:
                tree[key] = value

    merge(parameters, change)
    (problem,) = tree_problems(parameters)
    assert problem.startswith(expected), problem


def test_a_missing_block_is_named(base_parameters):
    parameters = copy.deepcopy(base_parameters)
    del parameters["dropout"]
    assert tree_problems(parameters) == [
        "  - dropout: missing (a parameters file under conf/base defines it; was it deleted?)"
    ]
