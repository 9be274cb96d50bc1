import numpy as np
import pytest

from tcfd_ros.distance import cross_modal_distance


def test_distance_is_one_minus_mean_part_cosine():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4, 8)).astype(np.float32)
    b = rng.normal(size=(5, 4, 8)).astype(np.float32)
    d = cross_modal_distance(a, b)
    ref = np.zeros((3, 5))
    for i in range(3):
        for j in range(5):
            cos = [a[i, p] @ b[j, p] / np.linalg.norm(a[i, p]) / np.linalg.norm(b[j, p]) for p in range(4)]
            ref[i, j] = 1 - np.mean(cos)
    np.testing.assert_allclose(d, ref, atol=1e-5)
    assert d.shape == (3, 5)
    np.testing.assert_allclose(np.diag(cross_modal_distance(a, a)), 0, atol=1e-5)


def test_empty_sides():
    a = np.zeros((0, 2, 3), np.float32)
    b = np.ones((4, 2, 3), np.float32)
    assert cross_modal_distance(a, b).shape == (0, 4)


def test_track_embedding_is_the_normalised_mean_of_normalised_tracklets():
    from tcfd_ros.distance import aggregate_track_embedding
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4, 8)).astype(np.float32)
    scaled = x * rng.uniform(0.1, 10.0, size=(5, 1, 1)).astype(np.float32)
    agg = aggregate_track_embedding(scaled)
    assert agg.shape == (4, 8)
    np.testing.assert_allclose(np.linalg.norm(agg, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(agg, aggregate_track_embedding(x), atol=1e-5)   # norms do not vote
    one = aggregate_track_embedding(x[:1])
    np.testing.assert_allclose(one, x[0] / np.linalg.norm(x[0], axis=-1, keepdims=True), atol=1e-6)
    with pytest.raises(ValueError):
        aggregate_track_embedding(np.zeros((0, 4, 8)))


def test_a_trimmed_track_embedding_leaves_out_the_tracklets_least_like_the_track():
    from tcfd_ros.distance import MIN_TRIM_TRACKLETS, aggregate_track_embedding, normalize_parts
    rng = np.random.default_rng(1)
    walk = rng.normal(size=(1, 4, 8)).astype(np.float32)
    own = walk + 0.1 * rng.normal(size=(7, 4, 8)).astype(np.float32)      # seven tracklets of one walker
    stranger = rng.normal(size=(1, 4, 8)).astype(np.float32)               # one of someone else
    track = np.concatenate([own, stranger])
    plain = aggregate_track_embedding(track)
    np.testing.assert_allclose(aggregate_track_embedding(track, 0.0), plain)
    clean = aggregate_track_embedding(own)
    trimmed = aggregate_track_embedding(track, 0.125)                     # floor(8 x 0.125): one left out
    np.testing.assert_allclose(trimmed, clean, atol=1e-5)
    assert cross_modal_distance(plain[None], clean[None])[0, 0] > 1e-2       # the stranger did pull it
    np.testing.assert_allclose(np.linalg.norm(trimmed, axis=-1), 1.0, rtol=1e-5)
    # per part: a tracklet odd in one part only is left out of that part alone
    odd = own.copy()
    odd[0, 2] = -walk[0, 2]
    part_trim = aggregate_track_embedding(odd, 0.15)                        # floor(7 x 0.15): one per part
    kept = normalize_parts(odd[1:]).mean(axis=0)
    np.testing.assert_allclose(part_trim[2], kept[2] / np.linalg.norm(kept[2]), atol=1e-5)
    assert not np.allclose(part_trim[0], kept[0] / np.linalg.norm(kept[0]), atol=1e-4)
    # too few tracklets to tell an outlier: untrimmed
    few = track[: MIN_TRIM_TRACKLETS - 1]
    np.testing.assert_allclose(aggregate_track_embedding(few, 0.5), aggregate_track_embedding(few))
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="trim_share"):
            aggregate_track_embedding(track, bad)
