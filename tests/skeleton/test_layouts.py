import numpy as np
import pytest

from sugar_core.errors import ConfigError
from sugar_core.skeleton import graph
from sugar_core.skeleton.classes import NTU60, NTU120, named_list
from sugar_core.skeleton.layouts import LAYOUTS, convert, get_layout, joint_map


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_layout_is_a_tree_rooted_at_centre(name):
    lay = get_layout(name)
    dist = graph.hop_distance(lay.num_joints, lay.bones, lay.centre)
    assert (dist >= 0).all(), f"{name}: joints not connected: {np.flatnonzero(dist < 0)}"
    assert len(lay.bones) == lay.num_joints - 1
    a = graph.spatial_partitions(lay)
    assert a.shape == (3, lay.num_joints, lay.num_joints)
    np.testing.assert_array_equal(a[0], np.eye(lay.num_joints))
    # every non-root joint sends to exactly one parent; columns of inward sum to 1 or 0
    col = a[1].sum(axis=0)
    assert np.allclose(col[np.arange(lay.num_joints) != lay.centre], 1.0)
    assert np.allclose(a[2].sum(axis=0)[a[2].sum(axis=0) > 0], 1.0)
    bp = graph.bone_pairs(lay)
    assert bp[lay.centre, 1] == lay.centre


def test_msr_to_kinect_mapping_by_joint_name():
    msr, k20 = get_layout("msr20"), get_layout("kinect20")
    idx = joint_map("msr20", "kinect20")
    assert [msr.joints[i] for i in idx] == list(k20.joints)
    back = joint_map("kinect20", "msr20")
    assert [k20.joints[i] for i in back] == list(msr.joints)
    x = np.random.default_rng(0).normal(size=(2, 7, 20, 3))
    np.testing.assert_array_equal(convert(convert(x, "msr20", "kinect20"), "kinect20", "msr20"), x)


def test_ntu_to_kinect_mapping():
    idx = joint_map("ntu25", "kinect20")
    ntu = get_layout("ntu25")
    assert ntu.joints[idx[2]] == "spine shoulder" and ntu.joints[idx[3]] == "head"
    assert ntu.joints[idx[19]] == "right foot"
    assert joint_map("ntu25", "msr20").shape == (20,)
    with pytest.raises(ConfigError, match="no joint mapping"):
        joint_map("coco17", "ntu25")


def test_graph_normalisation():
    a = graph.adjacency(3, [(0, 1), (1, 2)])
    n = graph.normalize(a)
    np.testing.assert_allclose(n.sum(axis=0), [1, 1, 1])


def test_class_lists():
    assert len(NTU60) == 60 and len(NTU120) == 120 and len(set(NTU120)) == 120
    assert NTU120[0] == "drink water" and NTU120[59] == "walking apart from each other"
    assert NTU120[60] == "put on headphone" and "rock-paper-scissors" in NTU120[119]
    assert len(named_list("nw-ucla")) == 10 and len(named_list("msr")) == 20
    with pytest.raises(ConfigError):
        named_list("kinetics")
