"""Safe YAML for specs and config: no aliases (no billion-laughs), no duplicate keys, and the line
of every key kept so that each error can say `file:line: field: message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

KeyPath = tuple[str | int, ...]


class YamlProblem(ValueError):
    """The YAML text cannot be read; `line` is 1-based within the text given."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


@dataclass
class Located:
    """Parsed data and the 1-based line of every key (or sequence item) by its path."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath, default: int = 1) -> int:
        """Line of `path`, else of its nearest ancestor, else `default`."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return default


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlProblem(
                event.start_mark.line + 1, "YAML aliases (*name) are not allowed here"
            )
        node: Node | None = super().compose_node(parent, index)
        return node


def load(text: str) -> Located:
    """Parse one YAML document; an empty document is `None`."""
    loader = _NoAliasLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            raise YamlProblem(line, f"invalid YAML: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise YamlProblem(1, f"invalid YAML: {exc}") from None
        located = Located(None)
        if node is not None:
            located.data = _build(loader, node, (), located.lines)
        return located
    finally:
        loader.dispose()


def _build(loader: _NoAliasLoader, node: Node, path: KeyPath, lines: dict[KeyPath, int]) -> Any:
    if isinstance(node, MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise YamlProblem(key_node.start_mark.line + 1, "mapping keys must be plain text")
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlProblem(key_node.start_mark.line + 1, "merge keys (<<) are not allowed")
            key = _scalar(loader, key_node)
            if not isinstance(key, str):
                key = str(key)
            line = key_node.start_mark.line + 1
            if key in result:
                first = lines.get((*path, key), line)
                raise YamlProblem(line, f"duplicate key {key!r} (first at line {first})")
            lines[(*path, key)] = line
            result[key] = _build(loader, value_node, (*path, key), lines)
        return result
    if isinstance(node, SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(loader, item, (*path, index), lines))
        return items
    return _scalar(loader, node)


def _scalar(loader: _NoAliasLoader, node: Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise YamlProblem(node.start_mark.line + 1, f"invalid value: {exc}") from None
