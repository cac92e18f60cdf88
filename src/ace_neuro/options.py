"""Options: how a parameter is declared, the one validator, and the base of every engine's options class.

An engine package declares its parameters once, as the fields of a frozen
dataclass derived from :class:`Options`, each made by :func:`option` (default,
JSON type, one-line help, bounds or allowed values, ``pair=True`` for a
``(rows, cols)`` pair that also accepts one number, CaImAn's group)::

    @dataclass(frozen=True)
    class EventsOptions(Options):
        STAGE: ClassVar[str] = "events"
        event_height: float = option(4.0, "number", "Minimum peak height ...", minimum=0.0)

Constructing one validates it (:meth:`Options.__post_init__`: every value
against its declaration by :func:`check_value`, then the class's
:meth:`Options.check` for the relations between values), so an options object
is valid by construction; pairs and lists are stored as tuples.
:meth:`Options.from_params` builds one from a mapping and keyword arguments
under CaImAn's names, naming the nearest known key for an unknown one.

This module imports nothing of ace-neuro: every engine package builds on it,
and the registry of all stages (:mod:`ace_neuro.params`) reads the classes.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping

__all__ = [
    "Param",
    "ParameterError",
    "Options",
    "option",
    "check_value",
    "allowed_values",
    "suggest",
    "declarations",
]


class ParameterError(ValueError):
    """A parameter key or value that the pipeline cannot use."""



@dataclass(frozen=True)
class Param:
    """One parameter.

    Parameters
    ----------
    name : str
        The key, CaImAn's name where CaImAn has one (``gSig``, ``max_shifts``).
    default : Any
        Default value; ``None`` means "not set" and must be allowed by ``type``.
    type : str or tuple of str
        JSON-schema type(s): ``"number"``, ``"integer"``, ``"boolean"``,
        ``"string"``, ``"array"``, ``"object"``, ``"null"``.
    help : str
        One line, shown as the comment in ``config.yaml`` and in the schema.
    stage : str
        Stage the parameter belongs to (a module of :mod:`ace_neuro.stages`).
    enum : tuple, optional
        Allowed values.
    minimum, maximum : float, optional
        Inclusive bounds for numbers (and for the items of a pair).
    exclusive_minimum : float, optional
        Exclusive lower bound for numbers.
    items : dict, optional
        JSON schema of array items (``{"type": "integer", "minimum": 1}``).
    pair : bool
        A ``(rows, cols)`` pair where CaImAn also accepts one number for both
        (``gSig: 4`` means ``[4, 4]``); values are normalised to a list of two.
    caiman_group : str or tuple of str, optional
        CaImAn ``CNMFParams`` group (``motion``, ``init``, ...) for export; a
        tuple where CaImAn keeps the value in several groups (``p`` in
        ``temporal`` and ``preprocess``). The one table of CaImAn groups.
    """

    name: str
    default: Any
    type: str | tuple[str, ...]
    help: str
    stage: str
    enum: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    items: dict | None = field(default=None, hash=False, compare=False)
    pair: bool = False
    caiman_group: str | tuple[str, ...] | None = None

    @property
    def caiman_groups(self) -> tuple[str, ...]:
        """Every CaImAn ``CNMFParams`` group that holds this parameter (none for our own)."""
        if self.caiman_group is None:
            return ()
        return (self.caiman_group,) if isinstance(self.caiman_group, str) else tuple(self.caiman_group)

    @property
    def types(self) -> tuple[str, ...]:
        """The JSON types as a tuple."""
        return (self.type,) if isinstance(self.type, str) else tuple(self.type)

    def schema(self) -> dict:
        """JSON-schema fragment for this parameter."""
        types = list(self.types)
        if self.pair and self.items is not None:
            types.insert(types.index("array"), self.items["type"])
        out: dict[str, Any] = {"type": types[0] if len(types) == 1 else types}
        out["description"] = self.help
        out["default"] = self.default
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.pair and self.items is not None:
            for key in ("minimum", "maximum"):
                if key in self.items:
                    out[key] = self.items[key]
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.exclusive_minimum is not None:
            out["exclusiveMinimum"] = self.exclusive_minimum
        if self.items is not None:
            out["items"] = self.items
            if self.pair:
                out["minItems"] = out["maxItems"] = 2
        return out



def suggest(key: str, known: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest known key, or a list of choices."""
    names = [str(n) for n in known]
    lower = {n.lower(): n for n in names}
    if key.lower() in lower and lower[key.lower()] != key:
        return f"; did you mean {lower[key.lower()]!r}? (names are case-sensitive)"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; known keys are: {', '.join(sorted(names))}"



def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def allowed_values(p: Param) -> str:
    """What ``p`` accepts, in words (its type, bounds or allowed values), for messages and the config docs."""
    if p.enum is not None:
        return "one of " + ", ".join(json.dumps(v) for v in p.enum)
    parts = []
    for kind, word in (("integer", "an integer"), ("number", "a number"), ("boolean", "true or false"),
                       ("string", "a text"), ("object", "a mapping"), ("null", "null (not set)")):
        if kind in p.types and not (p.pair and kind == "string"):
            parts.append(word)
    if p.pair:
        parts.insert(0, "a number or a pair [rows, cols] of " + ("integers" if p.items.get("type") == "integer" else "numbers"))
        if "string" in p.types and isinstance(p.default, str):  # a pair that may also be measured ('auto')
            parts.append(f"{p.default!r}")
    elif "array" in p.types:
        parts.append("a list")
    bounds = []
    lo = p.minimum if p.minimum is not None else (p.items or {}).get("minimum") if p.pair else p.minimum
    hi = p.maximum if p.maximum is not None else (p.items or {}).get("maximum") if p.pair else p.maximum
    if lo is not None:
        bounds.append(f">= {lo:g}")
    if p.exclusive_minimum is not None:
        bounds.append(f"> {p.exclusive_minimum:g}")
    if hi is not None:
        bounds.append(f"<= {hi:g}")
    return " or ".join(parts) + (f" ({', '.join(bounds)})" if bounds else "")


def _check_number(p: Param, value: Any, integer: bool, lo: float | None, hi: float | None) -> Any:
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError
    if integer:
        if float(value) != int(value):
            raise ValueError
        value = int(value)
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ValueError
    if p.exclusive_minimum is not None and value <= p.exclusive_minimum:
        raise ValueError
    return value


def check_value(p: Param, value: Any, *, where: str = "") -> Any:
    """Check one value against its declaration and return it normalised.

    Parameters
    ----------
    p : Param
        The declaration.
    value : Any
        A value from ``config.yaml`` or a parsed sample-sheet cell.
    where : str
        Prefix of the error message (file, line, column).

    Returns
    -------
    Any
        The value; integers as ``int``, pairs as a list of two.

    Raises
    ------
    ParameterError
        Naming the parameter, the value and what is allowed.
    """
    try:
        return _normalise(p, value)
    except ValueError:
        prefix = f"{where}: " if where else ""
        raise ParameterError(
            f"{prefix}{p.stage}.{p.name} = {json.dumps(value, default=str)} is not allowed; it must be {allowed_values(p)}"
        ) from None


def _normalise(p: Param, value: Any) -> Any:
    types = p.types
    if value is None:
        if "null" in types or p.enum is not None and None in p.enum:
            return None
        raise ValueError
    if p.enum is not None:
        # True == 1 in Python: compare types too, so that 1 is not taken for true.
        if not any(value == v and type(value) is type(v) or _is_number(value) and _is_number(v) and value == v for v in p.enum):
            raise ValueError
        return value
    if isinstance(value, bool):
        if "boolean" in types:
            return value
        raise ValueError
    if p.pair:
        item_integer = p.items.get("type") == "integer"
        lo, hi = p.items.get("minimum"), p.items.get("maximum")
        if _is_number(value):
            value = [value, value]
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return [_check_number(p, v, item_integer, lo, hi) for v in value]
        if isinstance(value, str) and "string" in types:
            return value
        raise ValueError
    if _is_number(value) and ("number" in types or "integer" in types):
        return _check_number(p, value, "number" not in types, p.minimum, p.maximum)
    if isinstance(value, str) and "string" in types:
        return value
    if isinstance(value, (list, tuple)) and "array" in types:
        value = list(value)
        item_type = (p.items or {}).get("type")
        if item_type in ("integer", "number"):
            value = [_check_number(p, v, item_type == "integer", p.items.get("minimum"), p.items.get("maximum")) for v in value]
        return value
    if isinstance(value, Mapping) and "object" in types:
        return dict(value)
    raise ValueError



# ----------------------------------------------------------------------------- the options classes

#: Key of a field's metadata that holds its declaration (the keywords of :class:`Param` but name and stage).
_DECLARATION = "ace_neuro.option"


def option(
    default: Any,
    type: str | tuple[str, ...],
    help: str,
    *,
    enum: tuple | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    items: dict | None = None,
    pair: bool = False,
    caiman_group: str | tuple[str, ...] | None = None,
) -> Any:
    """One parameter, as a field of an :class:`Options` class (the field's name is the parameter's name).

    Parameters
    ----------
    default : Any
        The default, as written in ``config.yaml`` (pairs and lists as lists);
        ``None`` means "not set" and must be allowed by ``type``.
    type, help, enum, minimum, maximum, exclusive_minimum, items, pair, caiman_group
        As :class:`Param` (JSON type(s), one-line help, allowed values, bounds,
        the JSON schema of array items, scalar-or-pair, CaImAn's group).

    Returns
    -------
    dataclasses.Field
    """
    declaration = dict(default=default, type=type, help=help, enum=enum, minimum=minimum, maximum=maximum,
                       exclusive_minimum=exclusive_minimum, items=items, pair=pair, caiman_group=caiman_group)
    metadata = {_DECLARATION: declaration}
    if isinstance(default, (list, dict)):
        frozen = _frozen(default)
        return field(default_factory=lambda: frozen, metadata=metadata)
    return field(default=default, metadata=metadata)


def _frozen(value: Any) -> Any:
    """Lists as tuples (recursively), so an options object holds no mutable sequence."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _listed(value: Any) -> Any:
    """Tuples as lists (recursively): the JSON form of a value."""
    if isinstance(value, (list, tuple)):
        return [_listed(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _listed(v) for k, v in value.items()}
    return value


def declarations(cls: type) -> tuple[Param, ...]:
    """The :class:`Param` of every field of an options class, in field order.

    Parameters
    ----------
    cls : type
        A dataclass derived from :class:`Options` whose fields are made by :func:`option`.
    """
    return tuple(
        Param(f.name, stage=cls.STAGE, **f.metadata[_DECLARATION]) for f in fields(cls) if _DECLARATION in f.metadata
    )


@dataclass(frozen=True)
class Options:
    """Base of the options classes: validated on construction, read-only, JSON form by :meth:`as_dict`.

    A subclass is a ``@dataclass(frozen=True)`` with ``STAGE`` (the workflow
    stage, for messages and the config section) and fields made by
    :func:`option`; it may override :meth:`check` for relations between
    values. Constructing it with wrong values raises :class:`ParameterError`
    naming the parameter, the value and what is allowed.
    """

    STAGE: ClassVar[str] = ""

    def __post_init__(self) -> None:
        values = {p.name: check_value(p, getattr(self, p.name)) for p in declarations(type(self))}
        values = self.check(values)
        for name, value in values.items():
            object.__setattr__(self, name, _frozen(value))

    @staticmethod
    def check(values: dict[str, Any]) -> dict[str, Any]:
        """Relations between values (``{name: value}``, each already checked); return them, normalised.

        Raises
        ------
        ParameterError
            Values that contradict each other.
        """
        return values

    @classmethod
    def parameters(cls) -> tuple[Param, ...]:
        """The declarations of this class's parameters (:func:`declarations`)."""
        return declarations(cls)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every parameter's default, in JSON form (pairs as lists), as a new dict."""
        return {p.name: _listed(p.default) for p in declarations(cls)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None, /, *, where: str = "", **names: Any):
        """Build (and so validate) the options from a mapping and keyword arguments under CaImAn's names.

        Parameters
        ----------
        params : mapping, optional
            ``{name: value}`` (a config section, a lab's parameter sheet, a
            rule's ``params.p``, another options object's :meth:`as_dict`);
            missing names take their defaults.
        where : str
            Prefix of error messages (the config file, the sheet's line and id).
        **names
            More values by name; they win over ``params``.

        Raises
        ------
        ParameterError
            An unknown name (naming the nearest known one), a value out of its
            type, range or allowed values, or values that contradict each other.
        """
        if isinstance(params, cls) and not names:
            return params
        if isinstance(params, Options):
            params = params.as_dict()
        values = {**(params or {}), **names}
        known = {p.name for p in declarations(cls)}
        prefix = f"{where}: " if where else ""
        for name in values:
            if name not in known:
                raise ParameterError(f"{prefix}unknown parameter {cls.STAGE}.{name}{suggest(name, known)}")
        try:
            return cls(**values)
        except ParameterError as err:
            raise ParameterError(f"{prefix}{err}") from None

    def as_dict(self) -> dict[str, Any]:
        """The values by name in JSON form (pairs and lists as lists), as in ``config.yaml``."""
        return {p.name: _listed(getattr(self, p.name)) for p in declarations(type(self))}

    def replace(self, **names: Any):
        """A copy with some values changed (validated again)."""
        return dataclasses.replace(self, **names)
