"""Type-confused parameter files give clean validation errors naming the key, never a crash."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.validation import ParameterValidationError, ParameterValidator

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
