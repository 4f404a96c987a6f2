"""A user's own application: the ``[[application]]`` entries of kind "python" (docs/scenario.md) name a Python
file and, per node, a coroutine function ``async def f(ctx: AppContext, **args)`` in it; ``qnet run`` and
``qnet up`` run them as they run the built-in kinds (:mod:`stack.api.scenario_apps`, one node process each under
``qnet up``: stack/multiprocess/node_apps.py).

Loading the file imports it: the user's code runs, in every process of the run (as pytest runs a conftest.py).
A file that cannot be imported (or calls ``sys.exit()`` when imported), or a name that is not a coroutine
function in it, is a :class:`~stack.scenario.ScenarioError` naming the entry's key. What a function returns goes
into the report (``applications[i].results``) and must be JSON; an exception it raises (``SystemExit`` too) ends
the run as one line (:class:`~stack.api.errors.ApplicationFailed`) with the function, node and the line of the
user's file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from stack.api.context import AppContext
from stack.api.errors import ApplicationFailed
from stack.scenario import Scenario, ScenarioError

UserFunction = Callable[..., Awaitable[Any]]
USER_ERRORS = (Exception, SystemExit)
"""What the user's code may raise that is its error, reported as one line: ``sys.exit()`` too (it would end the
run silently with its status, or with a traceback from a function). Not KeyboardInterrupt: Ctrl-C stays the
user's way to stop a run."""
MAX_RESULT_DEPTH = 8
"""Lists and tables a result may nest (``qnet up`` carries it to the medium in a message nested at most 16 deep)."""
MAX_RESULT_BYTES = 16 << 20
"""A result's largest JSON text (within the 64 MiB of a ``qnet up`` node's result message)."""


def load_module(scenario: Scenario, index: int) -> ModuleType:
    """Import the file of ``scenario.applications[index]`` (its code runs) as a module of its own."""
    config = scenario.applications[index]
    key = f"application[{index}].file"
    path = Path(config.file)
    if not path.is_file():
        raise ScenarioError(scenario.source, key, f"no such file: {config.file}")
    try:
        digest = hashlib.sha256(str(path.resolve()).encode() + b"\0" + path.read_bytes())
    except OSError as error:
        raise ScenarioError(scenario.source, key, f"cannot read {config.file}: {error.strerror}") from None
    name = "qnet_user_" + digest.hexdigest()[:16]       # imported once per process, again once edited
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ScenarioError(scenario.source, key, f"cannot import {config.file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except USER_ERRORS as error:
        del sys.modules[name]
        raise ScenarioError(scenario.source, key, f"importing {config.file} raised {_where(error, path)}") from None
    return module


def load_functions(scenario: Scenario, index: int) -> dict[str, UserFunction]:
    """The coroutine function of every node of ``scenario.applications[index]``, by node."""
    config = scenario.applications[index]
    module = load_module(scenario, index)
    found: dict[str, UserFunction] = {}
    for node, name in config.functions:
        function = getattr(module, name, None)
        if not inspect.iscoroutinefunction(function):
            what = "is not defined" if function is None else f"is a {type(function).__name__}, not an async def"
            raise ScenarioError(scenario.source, f"application[{index}].functions.{node}",
                                f"{name!r} {what} in {config.file} (expected async def {name}(ctx, ...))")
        _check_args(scenario, index, function)
        found[node] = function
    return found


def _check_args(scenario: Scenario, index: int, function: UserFunction) -> None:
    """The entry's ``args`` fit ``function``'s keyword parameters (after ``ctx``): ScenarioError naming the first
    argument it does not take, or the first parameter without a default that ``args`` leaves out, before the
    run (not a TypeError from the call, which ended the run with status 1)."""
    config = scenario.applications[index]
    args = json.loads(config.args)
    parameters = list(inspect.signature(function).parameters.values())[1:]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    named = {p.name: p for p in parameters if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                         inspect.Parameter.KEYWORD_ONLY)}
    where = f"{function.__name__} in {Path(config.file).name}"
    for name in args:
        if name not in named and not takes_any:
            raise ScenarioError(scenario.source, f"application[{index}].args.{name}",
                                f"{where} has no parameter {name!r} (it takes: {', '.join(named) or 'none'})")
    for name, parameter in named.items():
        if parameter.default is inspect.Parameter.empty and name not in args:
            raise ScenarioError(scenario.source, f"application[{index}].args.{name}",
                                f"is required: {where} has no default for it")


def check_user_apps(scenario: Scenario) -> None:
    """Import every "python" entry's file and find its functions (ScenarioError naming the key if one cannot),
    before a run opens its outputs; the run's own loading then finds the modules imported."""
    for index, config in enumerate(scenario.applications):
        if config.kind == "python":
            load_functions(scenario, index)


def user_role(scenario: Scenario, index: int, node: str, function: UserFunction,
              results: dict[tuple[int, str], Any]) -> Callable[[AppContext], Awaitable[None]]:
    """The coroutine that runs ``function`` on ``node`` with the entry's ``args``, puts its JSON-checked result in
    ``results[(index, node)]`` and turns whatever it raises into one :class:`ApplicationFailed` line."""
    config = scenario.applications[index]
    args = json.loads(config.args)
    name = f"{function.__name__} on {node}"

    async def app(ctx: AppContext) -> None:
        try:
            result = await function(ctx, **args)
        except BaseException as error:
            if not users(error):
                raise
            raise ApplicationFailed(f"{name} raised {_where(error, Path(config.file))}") from error
        problem = _result_problem(result)
        if problem is not None:
            raise ApplicationFailed(f"{name} returned {type(result).__name__} that {problem}"[:300])
        results[(index, node)] = result
    return app


def _result_problem(result: Any) -> str | None:
    """Why the report cannot hold ``result`` (None: it can), the same in both run modes."""
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as error:
        return f"is not JSON for the report ({error})"
    if len(text) > MAX_RESULT_BYTES:
        return f"is {len(text)} bytes of JSON, more than the report takes ({MAX_RESULT_BYTES})"
    if _depth(result) > MAX_RESULT_DEPTH:
        return f"nests lists and tables more than {MAX_RESULT_DEPTH} deep"
    return None


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list | tuple):
        return 1 + max(map(_depth, value), default=0)
    return 0


def users(error: BaseException) -> bool:
    """Whether ``error`` is the user's code's own (:data:`USER_ERRORS`), or a group of such (a trio nursery's
    failures, a ``sys.exit()`` in one of its tasks among them)."""
    if isinstance(error, BaseExceptionGroup):
        return all(users(inner) for inner in error.exceptions)
    return isinstance(error, USER_ERRORS)


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _where(error: BaseException, path: Path) -> str:
    """``Type: message`` and the last line of the user's file it passed (file:line), all on one line; a group (a
    trio nursery's failures) is told by its first exception, and how many more it holds."""
    leaves = _leaves(error)
    error = leaves[0]
    more = f" (and {len(leaves) - 1} more error{'s' if len(leaves) > 2 else ''})" if len(leaves) > 1 else ""
    lines = [lineno for frame, lineno in traceback.walk_tb(error.__traceback__)    # whatever sys.tracebacklimit says
             if Path(frame.f_code.co_filename).resolve() == path.resolve()]
    line = str(error).splitlines()[0] if str(error) else ""
    if isinstance(error, SyntaxError) and error.lineno is not None:
        place = f" at {path.name}:{error.lineno}"
    else:
        place = f" at {path.name}:{lines[-1]}" if lines else ""
    place += more
    return f"{type(error).__name__}{place}: {line}"[:300] if line else f"{type(error).__name__}{place}"[:300]
