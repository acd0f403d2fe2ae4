"""YAML from strangers: safe tags only, and alias expansion bounded before construction.

`yaml.safe_load` shares an aliased node rather than copying it, so a 400-byte "billion
laughs" loads quickly — and then costs gigabytes in whoever walks, copies, validates or
prints the result. Here the composed node graph is measured first, counting every alias as
the nodes it expands to (memoized, so the count costs the size of the file, not of the
expansion), and a document that would expand past `max_nodes` is refused before any Python
object is built.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 100_000  # a watchlist or manifest has hundreds to a few thousand nodes


class YAMLTooLarge(yaml.YAMLError):
    """The document expands to more nodes than allowed (an alias bomb, or just too big)."""


class _Loader(yaml.SafeLoader):
    """SafeLoader (plain data only)."""


class _TextDatesLoader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as the strings written (dates are checked later,
    strictly: YAML would raise on `2022-02-30` and reject a whole file over one field)."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, *, max_nodes: int = MAX_NODES, dates_as_text: bool = False) -> Any:
    """Return the data of one YAML document, refusing one that expands past `max_nodes`."""
    loader = (_TextDatesLoader if dates_as_text else _Loader)(text)
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            expanded_size(node, max_nodes)
        except RecursionError:
            raise YAMLTooLarge("YAML nested too deeply") from None
        return loader.construct_document(node)
    finally:
        loader.dispose()


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Return how many nodes `node` expands to with aliases copied; raise past `limit`."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node) -> int:
        known = sizes.get(id(current))
        if known is not None:
            return known
        sizes[id(current)] = 1  # a recursive alias counts once (construction handles cycles)
        total = 1
        if isinstance(current, yaml.SequenceNode):
            for child in current.value:
                total += size(child)
                if total > limit:
                    break
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                total += size(key) + size(value)
                if total > limit:
                    break
        if total > limit:
            raise YAMLTooLarge(f"YAML expands to more than {limit:,} nodes (aliases)")
        sizes[id(current)] = total
        return total

    return size(node)
