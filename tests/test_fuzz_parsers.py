"""Fuzzing in the regular suite: every parser of outside input raises nothing but its own documented error.

The targets (``tests/fuzz_targets.py``) are every struct codec of ``protocols/packets``, the medium socket's
framing, hardware decoding and result check, and the scenario loader. Each gets random bytes and mutations
of valid inputs, a few hundred per run (``bench/fuzz.py`` runs a million or more per parser on demand).
"""

from __future__ import annotations

import copy
import math
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.scenario import ScenarioError, load_data
from tests.fuzz_targets import FUZZ_SOURCE, ROOT, TARGETS, Target, check, mutate

EXAMPLES = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
edits = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1,
                 max_size=6)


def inputs(target: Target) -> st.SearchStrategy[bytes]:
    """Random bytes, and valid inputs with a few byte edits (most of what reaches deep into a parser)."""
    mutated = st.builds(mutate, st.sampled_from(target.seeds), edits)
    return st.one_of(st.binary(max_size=96), mutated, mutated)


@pytest.mark.parametrize("name", sorted(TARGETS))
@EXAMPLES
@given(data=st.data())
def test_a_parser_raises_only_its_documented_error(name: str, data: st.DataObject) -> None:
    target = TARGETS[name]
    check(target, data.draw(inputs(target), label=name))


def test_every_codec_module_has_a_target() -> None:
    """A new wire format must come with its fuzz target."""
    decoders = {"heralding": "qhp", "qframe": "qframe", "linkservice": "create", "egp": "egp", "ptp": "ptp",
                "qnp": "track", "qncp": "qncp", "auth": "auth", "qtp": "qtp",
                "exchange": "exchange"}
    modules = {path.stem for path in (ROOT / "protocols" / "packets").glob("*.py")} - {"__init__"}
    covered_by = {"heralding_batch": "qhp_batch", "bitpack": "qhp_batch", "rice": "qhp_batch",
                  "qncp_distil": "qncp", "qncp_common": "qncp", "qncp_setup": "qncp", "qncp_caps": "qncp",
                  "qcap_list": "qncp",
                  "linkservice_create": "create", "linkservice_block": "upward", "linkservice_codes": "upward",
                  "linkservice_okk": "upward"}
    assert modules == set(decoders) | set(covered_by)
    assert {*decoders.values(), *covered_by.values()} <= set(TARGETS)


def test_the_seeds_are_valid() -> None:
    """Mutations start from inputs the parsers accept (else the fuzzing would stay in the error paths)."""
    for target in TARGETS.values():
        for seed in target.seeds:
            target.parse(seed)


# -- the scenario loader on structured data: a sweep edits parsed documents, then checks them ------------

DOCUMENTS = [tomllib.loads(path.read_text()) for path in sorted((ROOT / "examples").glob("*.toml"))]
values = st.one_of(st.none(), st.booleans(), st.integers(-(1 << 70), 1 << 70), st.floats(),
                   st.sampled_from([math.nan, math.inf, -0.0, 1e308]), st.text(max_size=6),
                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


@EXAMPLES
@given(st.sampled_from(range(len(DOCUMENTS))), st.lists(st.tuples(st.integers(0, 1 << 16), st.booleans(), values),
                                                       min_size=1, max_size=3))
def test_the_scenario_loader_raises_only_scenario_errors(index: int, changes: list[tuple[int, bool, Any]]) -> None:
    """Any value at any key of a real scenario, or a key removed: a Scenario or a ScenarioError naming a key."""
    document = copy.deepcopy(DOCUMENTS[index])
    for where, remove, value in changes:
        paths = _paths(document)
        if not paths:
            break
        *parents, last = paths[where % len(paths)]
        container = document
        for key in parents:
            container = container[key]
        if remove and isinstance(container, dict):
            del container[last]
        else:
            container[last] = value
    try:
        load_data(document, FUZZ_SOURCE)
    except ScenarioError as error:
        assert str(error).startswith(FUZZ_SOURCE)
