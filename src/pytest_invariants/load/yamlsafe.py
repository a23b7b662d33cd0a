"""Read YAML safely into plain values that remember where they were written.

PyYAML's loaders lose every line number once a document becomes Python
values, and its composer recurses and expands aliases without a limit. This
module drives the parser's event stream itself, so that it can:

- keep the 1-based line:col of every key and value, for messages that point
  at the exact place to fix;
- refuse absurd documents quickly: too many bytes, too deep, or too many
  values once aliases are expanded (a "billion laughs" is refused while its
  size is counted, long before anything is expanded);
- construct only plain values (null, booleans, numbers, strings, lists and
  mappings): no tag ever reaches a constructor that could build objects.

Every failure is a `Problem`, never an exception.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias, cast

from pytest_invariants.load.scopecache import FactsCache, analysis_version
from pytest_invariants.model import Location, Problem

if TYPE_CHECKING:
    import yaml

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "Node",
    "YAML_CACHE_FILE",
    "Pair",
    "decode_text",
    "parse_yaml",
    "read_limited",
    "text_encoding",
    "yaml_cache",
]

MAX_BYTES: Final = 5 * 1024 * 1024
# A file of 10,000 invariants holds about 200,000 values; five times that is
# still loaded in a few seconds, and far below what an alias bomb asks for.
MAX_NODES: Final = 1_000_000
# Invariant files nest four levels deep; anything past this is not one.
MAX_DEPTH: Final = 64


class _PyYAML(NamedTuple):
    yaml: Any  # the module
    loader: Any
    resolver: Any
    constructor: Any


@functools.cache
def _parts() -> _PyYAML:
    """Import PyYAML on first use: a run whose files are in the parse cache never does.

    (Importing it costs ~15 ms, most of it compiling the reader's character-class regex.)
    """
    import yaml
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    # libyaml is ten times faster than the pure-Python parser; both are safe here
    # because only their event streams are used.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return _PyYAML(yaml, loader, Resolver(), SafeConstructor())


YAML_CACHE_FILE: Final = Path(".invariants") / "yaml-cache.json"
_CACHE_KIND: Final = "yaml"  # the cache key's second part (scope files use a module name)
# A document of more values than this (aliases expanded) is parsed again each time:
# its cached form would be larger than the parse is slow.
_CACHED_NODES: Final = 250_000
_SCALAR_TYPES: Final = (bool, int, float, str)

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS: Final = frozenset(
    _TAG + t for t in ("null", "bool", "int", "float", "str", "timestamp", "binary", "merge")
)
_STR: Final = _TAG + "str"
_TYPED_TAGS: Final = frozenset(_TAG + t for t in ("null", "bool", "int", "float"))
_MEMO_LENGTH: Final = 40
_COLLECTION_TAGS: Final = frozenset(_TAG + t for t in ("seq", "map", "set", "omap", "pairs"))

Scalar: TypeAlias = "bool | int | float | str | None"
Value: TypeAlias = "Scalar | tuple[Node, ...] | dict[str, Pair]"


# Not frozen: creating frozen instances costs twice as much, and a large file
# holds hundreds of thousands of nodes. Treat nodes as read-only all the same.
@dataclass(eq=False, slots=True)
class Node:
    """One YAML value with its 1-based position; `size` counts it with all it holds."""

    value: Value
    line: int
    col: int
    tag: str = ""
    text: str = ""  # a scalar's source text, used for mapping keys
    size: int = 1

    def location(self, path: str) -> Location:
        """Return where this value starts in the file `path`."""
        return Location(path, self.line, self.col)


class Pair(NamedTuple):
    """A mapping entry: the key node (its text is the key) and the value node."""

    key: Node
    value: Node


class _Abort(Exception):
    """Stop reading the document: the problem is already recorded."""


def read_limited(path: Path, display: str, limit: int = MAX_BYTES) -> bytes | Problem:
    """Read at most `limit` bytes of `path`, or say why the file cannot be used."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        return Problem(
            Location(display),
            f"cannot read the file: {exc.strerror or exc}",
            "check that it exists and is readable",
        )
    if len(data) > limit:
        return Problem(
            Location(display),
            f"the file is larger than {limit // (1024 * 1024)} MB: too large for invariants",
            "split it into several files in an invariants/ folder",
        )
    return data


def parse_yaml(
    data: bytes, display: str, cache: FactsCache | None = None
) -> tuple[Node | None, list[Problem]]:
    """Parse one YAML document from `data` into a `Node` tree, collecting problems.

    Returns the root node (None when the document cannot be used) and the
    problems found; duplicate keys are reported but do not stop the parse.
    With a `cache`, a document that parsed without a problem is kept under its
    bytes, and the same bytes are read back from it without PyYAML.
    """
    key = cache.key(data, _CACHE_KIND, False) if cache is not None else ""
    if cache is not None:
        stored = _from_cache(cache.get(key))
        if stored is not None:
            return stored, []
    root, problems = _parse(data, display)
    if cache is not None and root is not None and not problems and root.size <= _CACHED_NODES:
        cache.put(key, _to_cache(root))
    return root, problems


def yaml_cache(rootdir: Path) -> FactsCache:
    """Return the parse cache of `rootdir` (`.invariants/yaml-cache.json`)."""
    return FactsCache(rootdir / YAML_CACHE_FILE, _yaml_analysis())


def _yaml_analysis() -> str:
    # This module's source and PyYAML's own version file, found without importing it.
    spec = importlib.util.find_spec("yaml")
    origin = spec.origin if spec is not None and spec.origin else ""
    return analysis_version([__file__, origin])


def _to_cache(node: Node) -> list[Any]:
    """Return `node` as JSON values: [line, col, tag, text, size, kind, payload]."""
    value = node.value
    head: list[Any] = [node.line, node.col, node.tag, node.text, node.size]
    if isinstance(value, tuple):
        return [*head, "seq", [_to_cache(item) for item in value]]
    if isinstance(value, dict):
        pairs = [[name, _to_cache(pair.key), _to_cache(pair.value)] for name, pair in value.items()]
        return [*head, "map", pairs]
    return [*head, "scalar", value]


def _from_cache(stored: Any) -> Node | None:
    """Return the tree `_to_cache` made, or None for anything else (a corrupt cache)."""
    if stored is None:
        return None
    try:
        return _node(stored)
    except (TypeError, ValueError, IndexError, KeyError, RecursionError):
        return None


def _node(item: list[Any]) -> Node:
    line, col, tag, text, size, kind, payload = item
    if not (type(line) is type(col) is type(size) is int and type(tag) is type(text) is str):
        raise TypeError("not a cached node")
    value: Value
    if kind == "seq":
        value = tuple(_node(child) for child in payload)
    elif kind == "map":
        value = {str(name): Pair(_node(key), _node(val)) for name, key, val in payload}
    elif kind == "scalar" and (payload is None or type(payload) in _SCALAR_TYPES):
        value = payload
    else:
        raise ValueError("not a cached node")
    return Node(value, line, col, tag, text, size)


def _parse(data: bytes, display: str) -> tuple[Node | None, list[Problem]]:
    text = _decode(data, display)
    if isinstance(text, Problem):
        return None, [text]
    pyyaml = _parts().yaml
    builder = _Builder(display)
    try:
        for event in pyyaml.parse(text, Loader=_parts().loader):
            builder.feed(event)
    except _Abort:
        return None, builder.problems
    except pyyaml.MarkedYAMLError as exc:
        return None, [*builder.problems, _syntax_problem(exc, display)]
    except pyyaml.reader.ReaderError as exc:
        return None, [*builder.problems, _reader_problem(exc, text, display)]
    except (pyyaml.YAMLError, UnicodeError) as exc:
        return None, [*builder.problems, Problem(Location(display), f"not valid YAML: {exc}")]
    if builder.root is None:
        empty = Problem(
            Location(display, 1, 1),
            "the file is empty",
            "start it with `version: 1` and an `invariants:` list",
        )
        return None, [empty]
    return builder.root, builder.problems


def text_encoding(data: bytes) -> str:
    """Return the encoding every command reads an invariants file with.

    UTF-8 (a byte-order mark is dropped), or UTF-16 when the file starts with
    its byte-order mark: the loader, `review`, `diff` and the fingerprints agree.
    """
    return "utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"


def decode_text(data: bytes) -> str | None:
    """Return the text of `data` as the loader reads it, or None when it is not text."""
    try:
        return data.decode(text_encoding(data))
    except UnicodeDecodeError:
        return None


def _decode(data: bytes, display: str) -> str | Problem:
    """Return the text of `data` (UTF-8, or UTF-16 with a byte-order mark)."""
    encoding = text_encoding(data)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Problem(
            Location(display, line),
            f"the file is not UTF-8 text (undecodable byte at offset {exc.start})",
            "save it as UTF-8; an invariants file is plain text",
        )


def _syntax_problem(exc: yaml.MarkedYAMLError, display: str) -> Problem:
    """Turn a PyYAML syntax error into a problem at the place it names."""
    mark = exc.problem_mark or exc.context_mark
    where = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display)
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    fix = "fix the YAML syntax at that place"
    if "\t" in str(exc) or "cannot start any token" in what:
        fix = "indent with spaces, never tabs, and quote values that start with a special character"
    elif "mapping values are not allowed" in what:
        fix = "put the value in quotes: it contains ': '"
    return Problem(where, f"not valid YAML: {what}", fix)


def _reader_problem(exc: yaml.reader.ReaderError, text: str, display: str) -> Problem:
    """Locate a reader error (a forbidden character) by its character offset."""
    position = int(getattr(exc, "position", 0) or 0)
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    return Problem(
        Location(display, line, col),
        f"not valid YAML: {getattr(exc, 'reason', 'unacceptable character')}",
        "remove the control or binary characters; an invariants file is plain text",
    )


def _position(event: yaml.Event) -> tuple[int, int]:
    """Return the 1-based (line, col) where `event` starts."""
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)


@dataclass
class _Open:
    """A sequence or mapping whose end event has not been seen yet."""

    kind: str  # "seq" | "map"
    line: int
    col: int
    tag: str
    anchor: str | None
    items: list[Node] = dataclasses.field(default_factory=list)
    size: int = 1


class _Builder:
    """Compose nodes from parser events without recursion, counting as it goes."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.problems: list[Problem] = []
        self.root: Node | None = None
        self._stack: list[_Open] = []
        self._anchors: dict[str, Node] = {}
        self._open_anchors: set[str] = set()
        self._documents = 0
        self._total = 0
        self._plain: dict[str, tuple[str, Scalar]] = {}
        self._pyyaml = _parts()

    def feed(self, event: yaml.Event) -> None:
        """Consume one parser event."""
        pyyaml = self._pyyaml.yaml
        # Scalars are most events: test for them first, by exact type.
        if type(event) is pyyaml.ScalarEvent:
            scalar = cast("yaml.ScalarEvent", event)
            self._add(self._scalar(scalar), scalar.anchor, 1)
        elif isinstance(event, pyyaml.DocumentStartEvent):
            self._start_document(event)
        elif isinstance(event, pyyaml.AliasEvent):
            alias = self._alias(event)
            self._add(alias, None, alias.size)
        elif isinstance(event, pyyaml.SequenceStartEvent | pyyaml.MappingStartEvent):
            self._open(event)
        elif isinstance(event, pyyaml.SequenceEndEvent | pyyaml.MappingEndEvent):
            self._close()

    def _fail(self, event: yaml.Event, what: str, fix: str) -> None:
        self.problems.append(Problem(self._where(event), what, fix))
        raise _Abort

    def _where(self, event: yaml.Event) -> Location:
        return Location(self.display, *_position(event))

    def _start_document(self, event: yaml.Event) -> None:
        self._documents += 1
        if self._documents > 1:
            self._fail(
                event,
                "the file holds more than one YAML document",
                "keep one document per file: remove the second `---`, "
                "or move it to its own file in an invariants/ folder",
            )

    def _scalar(self, event: yaml.ScalarEvent) -> Node:
        tag = event.tag
        mark = event.start_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        if tag is None and event.style:
            # Quoted or block text is always a string: no resolving needed.
            return Node(event.value, line, col, _STR, event.value)
        if tag is None and event.value in self._plain:
            # Keys and short values repeat in every invariant: resolve each once.
            tag, value = self._plain[event.value]
            return Node(value, line, col, tag, event.value)
        if tag in (None, "!"):
            # The stubs leave `resolve` untyped; it returns the tag as a str.
            tag = str(
                self._pyyaml.resolver.resolve(
                    self._pyyaml.yaml.ScalarNode, event.value, event.implicit
                )
            )
            if event.tag == "!":
                tag = _TAG + "str"
        if tag not in _SCALAR_TAGS:
            self._fail(
                event,
                f"unsupported YAML tag {tag!r}",
                "remove the tag: an invariants file holds plain text, numbers and lists",
            )
        value = self._construct(event, tag)
        if event.tag is None and len(event.value) <= _MEMO_LENGTH:
            self._plain[event.value] = (tag, value)
        return Node(value, line, col, tag, event.value)

    def _construct(self, event: yaml.ScalarEvent, tag: str) -> Scalar:
        """Build the plain value of a scalar; dates and binary stay as written."""
        if tag not in _TYPED_TAGS:
            return str(event.value)
        node = self._pyyaml.yaml.ScalarNode(tag, event.value)
        try:
            if tag == _TAG + "null":
                return None
            if tag == _TAG + "bool":
                return bool(self._pyyaml.constructor.construct_yaml_bool(node))
            if tag == _TAG + "int":
                return int(self._pyyaml.constructor.construct_yaml_int(node))
            if tag == _TAG + "float":
                return float(self._pyyaml.constructor.construct_yaml_float(node))
        except (ValueError, TypeError, self._pyyaml.yaml.YAMLError):
            self._fail(
                event,
                f"cannot read the number {event.value[:40]!r}",
                "write a shorter number, or quote it to make it text",
            )
        return str(event.value)

    def _alias(self, event: yaml.AliasEvent) -> Node:
        anchor = event.anchor or ""
        if anchor in self._open_anchors:
            self._fail(
                event,
                f"the alias *{anchor} refers to a value that contains it",
                "remove the recursive alias",
            )
        node = self._anchors.get(anchor)
        if node is None:
            self._fail(
                event,
                f"the alias *{anchor} has no matching anchor &{anchor}",
                "define the anchor before using it, or write the value out",
            )
        assert node is not None  # _fail raised otherwise
        return node

    def _open(self, event: yaml.CollectionStartEvent) -> None:
        if len(self._stack) >= MAX_DEPTH:
            self._fail(
                event,
                f"values are nested more than {MAX_DEPTH} levels deep",
                "an invariants file nests only a few levels: flatten the document",
            )
        kind = "seq" if isinstance(event, self._pyyaml.yaml.SequenceStartEvent) else "map"
        tag = event.tag or _TAG + kind
        if tag not in _COLLECTION_TAGS and tag != "!":
            self._fail(
                event,
                f"unsupported YAML tag {tag!r}",
                "remove the tag: an invariants file holds plain text, numbers and lists",
            )
        self._stack.append(_Open(kind, *_position(event), tag, event.anchor))
        if event.anchor:
            self._open_anchors.add(event.anchor)

    def _close(self) -> None:
        current = self._stack.pop()
        if current.anchor:
            self._open_anchors.discard(current.anchor)
        items = current.items
        value: Value = tuple(items) if current.kind == "seq" else self._mapping(items)
        node = Node(value, current.line, current.col, current.tag, size=current.size)
        # Its children were counted as they came: count the collection once.
        self._add(node, current.anchor, 1)

    def _add(self, node: Node, anchor: str | None, cost: int) -> None:
        """Attach a finished node to its parent, keeping the expanded size bounded."""
        self._total += cost
        if self._total > MAX_NODES:
            self.problems.append(
                Problem(
                    Location(self.display, node.line, node.col),
                    f"the document expands to more than {MAX_NODES:,} values (aliases included)",
                    "remove the aliases that multiply the document; an invariants file is small",
                )
            )
            raise _Abort
        if anchor:
            self._anchors[anchor] = node
        if self._stack:
            parent = self._stack[-1]
            parent.items.append(node)
            parent.size += node.size
        else:
            self.root = node

    def _mapping(self, items: list[Node]) -> dict[str, Pair]:
        """Pair up keys and values; merge `<<` entries; report odd or repeated keys."""
        own: dict[str, Pair] = {}
        merged: dict[str, Pair] = {}
        for key, value in zip(items[::2], items[1::2], strict=True):
            if key.tag == _TAG + "merge":
                self._merge(value, merged)
            elif not isinstance(key.value, tuple | dict):
                self._put(own, key, value)
            else:
                self.problems.append(
                    Problem(
                        key.location(self.display),
                        "a mapping key must be plain text",
                        "write the key as a single word, such as `title`",
                    )
                )
        return {**merged, **own}

    def _put(self, mapping: dict[str, Pair], key: Node, value: Node) -> None:
        first = mapping.get(key.text)
        if first is not None:
            self.problems.append(
                Problem(
                    key.location(self.display),
                    f"the key `{key.text}` appears twice in the same mapping "
                    f"(first on line {first.key.line})",
                    "keep only one of them",
                )
            )
        mapping[key.text] = Pair(key, value)

    def _merge(self, value: Node, merged: dict[str, Pair]) -> None:
        """Apply a YAML merge key: earlier sources win, explicit keys win over all."""
        sources = value.value if isinstance(value.value, tuple) else (value,)
        for source in sources:
            if not isinstance(source.value, dict):
                self.problems.append(
                    Problem(
                        source.location(self.display),
                        "`<<` can only merge mappings",
                        "point the merge key at an anchored mapping",
                    )
                )
                continue
            for text, pair in source.value.items():
                merged.setdefault(text, pair)
