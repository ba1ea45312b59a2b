"""CAR on a small real slice (ml-1m-collm): building examples, and fine-tuning lowers its loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from colrec.llm.catalog import encoder_path
from colrec.retrieval import car
from colrec.retrieval.behaviour import behaviour_text, recent_likes

COLLM = Path(__file__).resolve().parents[4] / "shared" / "data" / "ml-1m-collm"


def _slice(users: int = 32) -> tuple[dict[int, str], dict[int, list[int]]]:
    """Behaviour texts of the first users' training likes, and their neighbours by shared likes
    (a stand-in for SASRec's: the retriever's training is what is under test)."""
    rows = pl.read_csv(COLLM / "interactions.tsv", separator="\t").filter(pl.col("split") == "train")
    titles = dict(pl.read_csv(COLLM / "items.tsv", separator="\t", quote_char=None).iter_rows())
    rows = rows.rename({"uid": "user_id", "iid": "item_id", "timestamp": "ts"}).with_row_index("interaction_id")
    keep = rows.filter(pl.col("label") == 1)["user_id"].unique().sort()[:users]
    likes = recent_likes(rows.filter(pl.col("user_id").is_in(keep.to_list())), 10)
    texts = {u: behaviour_text(items, titles) for u, items in likes.items()}
    sets = {u: set(items) for u, items in likes.items()}
    neighbours = {
        u: sorted((v for v in sets if v != u), key=lambda v: (-len(sets[u] & sets[v]) / len(sets[u] | sets[v]), v))
        for u in sets
    }
    return texts, neighbours


@pytest.mark.skipif(not COLLM.exists(), reason="../shared/data/ml-1m-collm is not beside the repo")
def test_car_training_lowers_its_loss_on_real_users(tmp_path: Path) -> None:
    texts, neighbours = _slice()
    config = car.CarConfig(kc=2, epochs=1, lr=1e-4, batch_size=16, max_seq_length=64)
    examples = car.car_examples(texts, neighbours, sorted(texts), config.kc)
    assert len(examples.users) == len(texts) and all(len(ids) == 3 for ids in examples.ids)
    assert all(u not in ids[1:] for u, ids in zip(examples.users, examples.ids, strict=True))
    base = encoder_path(tmp_path / "models", "all-minilm-l6-v2")  # the offline package, read in place
    result = car.train_car(base, examples, config, tmp_path / "car")
    assert result["car_loss_after"] < result["car_loss_before"]
    tuned = car.load_encoder(tmp_path / "car")
    assert np.allclose(np.linalg.norm(car.encode(tuned, ["Highly rated: Heat (1995)"]), axis=1), 1.0, atol=1e-5)


def test_examples_skip_users_short_of_neighbours() -> None:
    texts = {1: "a", 2: "b", 3: "c"}
    examples = car.car_examples(texts, {1: [2, 3], 2: [1, 9], 3: [3, 1, 2]}, [1, 2, 3], kc=2)
    assert examples.users == [1, 3]  # user 2's neighbour 9 has no text; user 3 is not its own neighbour
    assert examples.ids == [[1, 2, 3], [3, 1, 2]]


def test_neighbour_overlap() -> None:
    got = car.neighbour_overlap({1: [2, 3, 4], 2: [5, 6, 7]}, {1: [3, 9, 8], 2: [1, 4, 8], 3: [1]}, k=3)
    assert got == {"overlap": pytest.approx(1 / 6), "hit": 0.5}


def test_behaviour_text_adds_genres_where_known() -> None:
    from colrec.retrieval.behaviour import item_genres

    genres = item_genres([1, 2, 3], ['{"genres": ["Crime", "Drama"]}', None, '{"year": 1999}'])
    assert genres == {1: "Crime, Drama"}
    assert behaviour_text([1, 2], {1: "Heat", 2: "Up"}, genres) == "Highly rated: Heat (Crime, Drama); Up"
