"""The prefix tree of a batch of prompts, for scoring (colrec.llm.tree_pass walks it): every
distinct token position computed once. Prompts that share a head share it at every depth (the
system prompt across all users, a user's history across their pairs, a longer history across
consecutive pairs), not only the one shared prefix of a group (colrec.llm.prefix, which training
keeps: its loss needs each answer right after its own prompt).

A subtree is laid out depth first in a packed row: a node's tokens, then its children's
subtrees. A token's reach (PackedRow.reach) is the end of its node's subtree in the row, so it is
seen by its own node's later tokens and its descendants only, and each prompt's answer logits are
read at its last token, wherever that sits (inside a node, when one prompt is the head of another,
or a duplicate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from colrec.llm.prefix import PackedRow, common_prefix


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


def lay_out_subtree(row: PackedRow, node: Node) -> None:
    """The subtree under `node` appended to the row, depth first; positions are depths."""
    first = len(row)
    _tokens(row, node, first + node.size)
    row.ends += [(prompt, first + depth - node.start) for prompt, depth in node.ends]
    for child in node.children:
        lay_out_subtree(row, child)


def _tokens(row: PackedRow, node: Node, reach: int) -> None:
    row.ids += node.tokens
    row.positions += list(range(node.start, node.end))
    row.reach += [reach] * len(node.tokens)


def tree_tokens(prompts: Sequence[Sequence[int]]) -> int:
    """Distinct token positions of the prompts: what one pass over their tree computes."""
    return build_tree(prompts).size
