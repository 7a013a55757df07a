"""Safe YAML for specs and config: no aliases (no billion-laughs), no duplicate keys, and the line
of every key kept so that each error can say `file:line: field: message`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

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


class _NoAlias(Composer):
    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        if self.check_event(AliasEvent):  # type: ignore[attr-defined]
            event = self.peek_event()  # type: ignore[attr-defined]
            raise YamlProblem(
                event.start_mark.line + 1, "YAML aliases (*name) are not allowed here"
            )
        node: Node | None = super().compose_node(parent, index)
        return node


class _PyLoader(_NoAlias, yaml.SafeLoader):
    pass


# Either loader: both compose with _NoAlias above, then construct with SafeConstructor.
_LOADER: Callable[[str], Any] = _PyLoader
if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _CLoader(_NoAlias, CParser, SafeConstructor, Resolver):
        """libyaml scans and parses (5x faster on 10,000 specs); composing stays in Python,
        ahead of CParser in the MRO, so that the alias check above still runs."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _LOADER = _CLoader


def load(text: str, first_line: int = 1) -> Located:
    """Parse one YAML document; an empty document is `None`.

    `first_line` is the line `text` starts on in its file: every line reported (key lines,
    YamlProblem.line and the "first at line N" of a duplicate key) then counts in the file.
    """
    # Blank lines ahead of the text shift every mark the parser makes, and mean nothing in YAML.
    text = "\n" * max(first_line - 1, 0) + text
    try:
        # The pure-Python Reader refuses control characters already here, not while parsing.
        loader = _LOADER(text)
    except ReaderError as exc:
        raise _unreadable(exc, text) from None
    try:
        try:
            node = loader.get_single_node()
        except ReaderError as exc:
            raise _unreadable(exc, text) from None
        except RecursionError:  # PyYAML composes recursively: `[[[[...` would crash the caller
            raise YamlProblem(first_line, "invalid YAML: nested too deeply") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else first_line
            raise YamlProblem(line, f"invalid YAML: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise YamlProblem(first_line, f"invalid YAML: {_one_line(exc)}") from None
        located = Located(None)
        if node is not None:
            try:
                located.data = _build(loader, node, (), located.lines)
            except RecursionError:
                raise YamlProblem(first_line, "invalid YAML: nested too deeply") from None
        return located
    finally:
        loader.dispose()


def _unreadable(exc: ReaderError, text: str) -> YamlProblem:
    # Python's reader counts characters; libyaml counts bytes of UTF-8.
    if exc.encoding == "unicode":
        before = text[: exc.position]
    else:
        before = text.encode()[: exc.position].decode(errors="ignore")
    return YamlProblem(before.count("\n") + 1,
                       f"invalid YAML: character U+{exc.character:04X} is not allowed")


def _build(loader: SafeConstructor, node: Node, path: KeyPath, lines: dict[KeyPath, int]) -> Any:
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


def _scalar(loader: SafeConstructor, node: Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    # SafeLoader's constructors raise plain ValueError for `2001-02-30`, `!!int abc` or an int
    # past Python's 4300-digit limit, and OverflowError for huge floats.
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise YamlProblem(node.start_mark.line + 1, f"invalid value: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    """The reason alone: PyYAML's str() appends the position and a quote of the source."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        return exc.problem
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
