"""Prefix-tree packing for scoring: every distinct token position of a batch of prompts computed
once. Prompts that share a head share it at every depth (the system prompt across all users, a
user's history across their pairs, a longer history across consecutive pairs), not only the one
shared prefix of a group (colrec.llm.prefix, which training keeps: its loss needs each answer
right after its own prompt).

The prompts' radix tree is laid out depth first in packed rows: a node's tokens, then its
children's subtrees. A token's reach (PackedRow.reach) is the end of its node's subtree in the row,
so it is seen by its own node's later tokens and its descendants only, and each prompt's answer
logits are read at its last token, wherever that sits (inside a node, when one prompt is the head
of another, or a duplicate). A subtree too large for a row is split among rows, each carrying the
path of nodes above it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from colrec.llm.prefix import PackedRow, common_prefix, first_fit


@dataclass
class Node:
    start: int  # depth of its first token
    tokens: list[int]
    children: list[Node] = field(default_factory=list)
    ends: list[tuple[int, int]] = field(default_factory=list)  # (prompt index, depth of its last token)

    @property
    def end(self) -> int:
        return self.start + len(self.tokens)

    @property
    def size(self) -> int:
        return len(self.tokens) + sum(c.size for c in self.children)

    def split(self, depth: int) -> None:
        """Cut this node at `depth`: what lies deeper becomes its only child."""
        cut = depth - self.start
        below = Node(depth, self.tokens[cut:], self.children, [e for e in self.ends if e[1] >= depth])
        self.tokens, self.children = self.tokens[:cut], [below]
        self.ends = [e for e in self.ends if e[1] < depth]


def build_tree(prompts: Sequence[Sequence[int]]) -> Node:
    """The radix tree of the prompts (root: an empty node), from the sorted prompts and the
    common prefix of each with the one before it."""
    root = Node(0, [])
    path = [root]  # the nodes from the root to the previous prompt's last one
    previous: Sequence[int] = ()
    for i in sorted(range(len(prompts)), key=lambda k: tuple(prompts[k])):
        prompt = prompts[i]
        if not prompt:
            raise ValueError(f"prompt {i} has no tokens: nothing to read an answer from")
        shared = common_prefix(previous, prompt)
        while len(path) > 1 and path[-1].start >= shared:
            path.pop()
        if path[-1].end > shared:
            path[-1].split(shared)
        if len(prompt) > shared:
            node = Node(shared, list(prompt[shared:]))
            path[-1].children.append(node)
            path.append(node)
        # the prompt's last token lies in the deepest node of its path that starts before it
        holder = next(n for n in reversed(path) if n.start <= len(prompt) - 1 < n.end)
        holder.ends.append((i, len(prompt) - 1))
        previous = prompt
    return root


@dataclass
class Unit:
    """What one row stretch holds: the path of nodes above, then whole subtrees under it."""

    path: list[Node]
    subtrees: list[Node]
    path_ends: list[tuple[int, int, int]] = field(default_factory=list)  # (path index, prompt, depth)

    @property
    def size(self) -> int:
        return sum(len(n.tokens) for n in self.path) + sum(n.size for n in self.subtrees)


def units(root: Node, budget: int) -> list[Unit]:
    """The tree cut into stretches of at most `budget` tokens where it can be: a subtree that fits
    with its path is kept whole, siblings share a stretch while they fit, and a subtree too large
    is opened: its node goes on the path and its children are cut in turn (a single node longer
    than the budget is a stretch of its own). Prompts that end inside an opened node are read in
    the first stretch below it."""
    out: list[Unit] = []

    def visit(path: list[Node], children: list[Node]) -> None:
        above = sum(len(n.tokens) for n in path)
        current: list[Node] = []
        for child in sorted(children, key=lambda c: c.size):
            if above + child.size > budget and child.children:
                first = len(out)
                visit([*path, child], child.children)
                out[first].path_ends += [(len(path), prompt, depth) for prompt, depth in child.ends]
                continue
            if current and above + sum(c.size for c in current) + child.size > budget:
                out.append(Unit(path, current))
                current = []
            current.append(child)
        if current:
            out.append(Unit(path, current))

    visit([], root.children)
    return out


def pack_tree(prompts: Sequence[Sequence[int]], row_tokens: int = 1024) -> list[PackedRow]:
    """Rows of at most `row_tokens` (longer only for one oversized node), stretches placed first
    fit, largest first."""
    return first_fit(units(build_tree(prompts), row_tokens), lambda u: u.size, row_tokens, _lay_out)


def _lay_out(row: PackedRow, unit: Unit) -> None:
    end = len(row) + unit.size
    starts = []
    for node in unit.path:  # seen by everything after it in the stretch
        starts.append(len(row))
        _tokens(row, node, end)
    for index, prompt, depth in unit.path_ends:
        row.ends.append((prompt, starts[index] + depth - unit.path[index].start))
    for subtree in unit.subtrees:
        lay_out_subtree(row, subtree)


def lay_out_subtree(row: PackedRow, node: Node) -> None:
    first = len(row)
    _tokens(row, node, first + node.size)
    row.ends += [(prompt, first + depth - node.start) for prompt, depth in node.ends]
    for child in node.children:
        lay_out_subtree(row, child)


def _tokens(row: PackedRow, node: Node, reach: int) -> None:
    row.ids += node.tokens
    row.positions += list(range(node.start, node.end))
    row.reach += [reach] * len(node.tokens)


def tree_tokens(prompts: Sequence[Sequence[int]], row_tokens: int = 1024) -> int:
    """Token positions a tree-packed pass computes."""
    return sum(len(r) for r in pack_tree(prompts, row_tokens))
