"""Document paths: reading them from items, resolving ``#name`` placeholders,
and checking that the paths of one expression neither overlap nor conflict.

A *concrete* path is a tuple of map keys (``str``) and list indexes
(``int``) with every placeholder already resolved, e.g. ``("a", 2, "c")``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from ..errors import ValidationError
from .ast import Index, Path
from .compare import MISSING

ConcretePath: TypeAlias = tuple[str | int, ...]
#: A compiled reader: ``getter(item, env)`` returns the value at a path or MISSING.
Getter: TypeAlias = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]


def resolve(path: Path, env: Mapping[str, Any]) -> ConcretePath:
    """The concrete path of ``path``, with ``#name`` placeholders looked up in ``env``."""
    out: list[str | int] = []
    for element in path.elements:
        if isinstance(element, Index):
            out.append(element.index)
        elif element.placeholder:
            out.append(env[element.text])
        else:
            out.append(element.text)
    return tuple(out)


def format_path(path: ConcretePath) -> str:
    """A concrete path as users write it: ``a.b[2].c``."""
    out = []
    for i, key in enumerate(path):
        if isinstance(key, int):
            out.append(f"[{key}]")
        else:
            out.append(key if i == 0 else f".{key}")
    return "".join(out)


def listed_path(path: ConcretePath) -> str:
    """A concrete path as DynamoDB's messages list it: ``[a, b, [2]]``."""
    return "[" + ", ".join(f"[{k}]" if isinstance(k, int) else k for k in path) + "]"


def describe(path: Path, env: Mapping[str, Any]) -> str:
    """``path`` with its placeholders resolved, for error messages."""
    return format_path(resolve(path, env))


def compile_getter(path: Path) -> Getter:
    """A fast reader for ``path``; placeholders are looked up in ``env`` per call."""
    first = path.elements[0]
    assert not isinstance(first, Index)
    first_key = first.text
    first_is_placeholder = first.placeholder
    if len(path.elements) == 1:
        if first_is_placeholder:

            def get_placeholder(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
                return item.get(env[first_key], MISSING)

            return get_placeholder

        def get_name(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
            return item.get(first_key, MISSING)

        return get_name

    steps: tuple[tuple[bool, bool, Any], ...] = tuple(
        (True, False, e.index) if isinstance(e, Index) else (False, e.placeholder, e.text)
        for e in path.elements[1:]
    )

    def get_nested(item: Mapping[str, Any], env: Mapping[str, Any]) -> Any:
        current = item.get(env[first_key] if first_is_placeholder else first_key, MISSING)
        for is_index, is_placeholder, key in steps:
            if is_index:
                if type(current) is not list or key >= len(current):
                    return MISSING
                current = current[key]
            else:
                if type(current) is not dict:
                    return MISSING
                current = current.get(env[key] if is_placeholder else key, MISSING)
        return current

    return get_nested


class PathNode:
    """One node of a tree of concrete paths (see :func:`build_tree`)."""

    __slots__ = ("children", "end", "example")

    def __init__(self, example: ConcretePath) -> None:
        self.children: dict[str | int, PathNode] = {}
        #: The path that ends here, if one does (then the node has no children).
        self.end: ConcretePath | None = None
        #: Some path through this node, for error messages.
        self.example = example


def _overlap(one: ConcretePath, two: ConcretePath) -> ValidationError:
    return ValidationError(
        "Two document paths overlap with each other; must remove or rewrite one of these "
        f"paths; path one: {listed_path(one)}, path two: {listed_path(two)}"
    )


def build_tree(paths: Iterable[ConcretePath]) -> PathNode:
    """Merge ``paths`` into a tree, refusing overlapping or conflicting paths.

    Two paths overlap when one is a prefix of the other (or they are equal);
    they conflict when one treats a value as a map and the other as a list
    (``a.b`` and ``a[0]``). DynamoDB refuses both within one expression.
    """
    root = PathNode(())
    for path in paths:
        node = root
        for key in path:
            if node.end is not None:
                raise _overlap(node.end, path)
            child = node.children.get(key)
            if child is None:
                for sibling in node.children:
                    if isinstance(sibling, int) != isinstance(key, int):
                        raise ValidationError(
                            "Two document paths conflict with each other; must remove or "
                            "rewrite one of these paths; path one: "
                            f"{listed_path(node.children[sibling].example)}, "
                            f"path two: {listed_path(path)}"
                        )
                    break
                child = node.children[key] = PathNode(path)
            node = child
        if node.end is not None or node.children:
            raise _overlap(node.end or node.example, path)
        node.end = path
    return root
