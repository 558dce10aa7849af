import numpy as np
import pytest

from bridge.state import ControlState


def make(alpha: float = 0.5) -> ControlState:
    return ControlState(8, ("density", "register"), alpha=alpha, seed=3, tonic="C", mode="major", density=0.5, bars=2)


def test_like_and_dislike_follow_the_update_rule() -> None:
    s = make(alpha=0.25)
    z0 = np.asarray(s.values.z)
    target = z0 + 4.0
    s.feedback(target, like=True)
    np.testing.assert_allclose(s.values.z, z0 + 0.25 * (target - z0))
    z1 = np.asarray(s.values.z)
    s.feedback(target, like=False)
    np.testing.assert_allclose(s.values.z, z1 - 0.25 * (target - z1))


def test_nudge_is_alpha_times_amount_and_clipped() -> None:
    s = make(alpha=0.5)
    s.nudge("density", 0.6)
    assert s.values.axis("density") == pytest.approx(0.3)
    s.nudge("density", 4.0)
    assert s.values.axis("density") == 1.0
    with pytest.raises(ValueError, match="axis must be one of density, register"):
        s.nudge("colour", 1.0)


def test_undo_walks_back_every_change() -> None:
    s = make()
    first = s.values
    s.set_emotion(0.5, -0.5)
    s.nudge("register", 1.0)
    s.set_key("A", "minor")
    assert s.undo() and s.undo() and s.undo()
    assert s.values == first
    assert not s.undo()


def test_snapshot_recall_and_morph_over_bars() -> None:
    s = make()
    s.set_emotion(1.0, 1.0)
    s.save("loud")
    s.set_emotion(-1.0, -1.0)
    start_z = np.asarray(s.values.z)
    s.feedback(start_z + 2, like=True)
    s.start_morph("loud", 4)
    seen = []
    for _ in range(4):
        assert s.bar_line()
        seen.append(s.values.valence)
    assert seen == pytest.approx([-0.5, 0.0, 0.5, 1.0])
    assert s.values.z == s.snapshots["loud"].z
    assert not s.bar_line()  # the morph is over
    with pytest.raises(KeyError, match="no snapshot 'nope'; saved: loud"):
        s.recall("nope")
