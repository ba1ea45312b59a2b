"""What a CoRAL prompt says about the retrieved users and items (coral.txt eq. 4): for each
retrieved item, which of the retrieved users liked it and which disliked it in the training ratings.
The pair being judged never counts as its own evidence (a training episode's label is in the
training ratings)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colrec.coral.env import Episode


@dataclass(frozen=True)
class ItemEvidence:
    item: int  # entity rows, as in EntitySpace
    liked_by: tuple[int, ...]
    disliked_by: tuple[int, ...]


class Ratings:
    """Training labels by (user row, item row)."""

    def __init__(self, users: np.ndarray, items: np.ndarray, labels: np.ndarray) -> None:
        self.labels = {(int(u), int(i)): int(y) for u, i, y in zip(users, items, labels, strict=True)}

    def evidence(self, episode: Episode) -> list[ItemEvidence]:
        """Retrieved items in retrieval order (each once) that some retrieved user rated."""
        target = (episode.pair.user, episode.pair.item)
        users = list(dict.fromkeys(episode.users))
        out = []
        for item in dict.fromkeys(episode.items):
            rated = [(u, self.labels.get((u, item))) for u in users if (u, item) != target]
            liked = tuple(u for u, y in rated if y == 1)
            disliked = tuple(u for u, y in rated if y == 0)
            if liked or disliked:
                out.append(ItemEvidence(item, liked, disliked))
        return out
