"""YAML text to plain data, remembering the line of every key and value.

PyYAML's composer already knows where each node starts; we keep that in a map from
the path of a value (``("fit", "rules", 2, "field")``) to its 1-based line, so that
validation errors can point at the offending line. Duplicate keys, which PyYAML
silently collapses, are errors here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

Path = tuple[str | int, ...]


class YamlError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Located:
    """Plain data (dicts, lists, scalars) plus the line of each path in it."""

    data: object
    lines: dict[Path, int] = field(default_factory=dict)
    key_lines: dict[Path, int] = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


_constructor = yaml.constructor.SafeConstructor()


def load(text: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlError(line, f"not valid YAML: {exc.problem or exc}") from None
    located = Located(data=None)
    if node is None:
        located.data = None
        return located
    located.data = _convert(node, (), located)
    return located


def _convert(node: yaml.Node, path: Path, located: Located) -> object:
    located.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError(key_node.start_mark.line + 1, "mapping keys must be plain names")
            key = str(key_node.value)
            if key in result:
                raise YamlError(key_node.start_mark.line + 1, f"duplicate key {key!r}")
            located.key_lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, (*path, key), located)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), located) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _constructor.construct_object(node)
