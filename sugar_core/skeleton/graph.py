"""Pure graph helpers for graph convolutions over a joint layout."""

from __future__ import annotations

import numpy as np

from sugar_core.skeleton.layouts import Layout


def adjacency(num_joints: int, edges, self_loops: bool = False) -> np.ndarray:
    """Symmetric 0/1 adjacency (V, V) from undirected edges."""
    a = np.zeros((num_joints, num_joints), dtype=np.float32)
    for i, j in edges:
        a[i, j] = a[j, i] = 1.0
    if self_loops:
        a += np.eye(num_joints, dtype=np.float32)
    return a


def normalize(a: np.ndarray) -> np.ndarray:
    """Column-normalised adjacency A D^-1 (each column sums to 1, empty columns stay 0)."""
    deg = a.sum(axis=0)
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1e-12), 0.0)
    return (a * inv[None, :]).astype(np.float32)


def hop_distance(num_joints: int, edges, root: int) -> np.ndarray:
    """Hops from ``root`` to every joint (V,), -1 for joints not connected to it."""
    adj = adjacency(num_joints, edges) > 0
    dist = np.full(num_joints, -1, dtype=np.int64)
    dist[root] = 0
    frontier = [root]
    while frontier:
        nxt = []
        for i in frontier:
            for j in np.flatnonzero(adj[i]):
                if dist[j] < 0:
                    dist[j] = dist[i] + 1
                    nxt.append(int(j))
        frontier = nxt
    return dist


def spatial_partitions(layout: Layout) -> np.ndarray:
    """The ST-GCN spatial partition (3, V, V): identity, inward (towards the centre), outward.

    ``A[k][i, j]`` is the weight of joint j's feature in joint i's aggregate; inward and outward
    are normalised per column (A D^-1) as CTR-GCN does.
    """
    v = layout.num_joints
    dist = hop_distance(v, layout.bones, layout.centre)
    inward = np.zeros((v, v), dtype=np.float32)
    for i, j in layout.bones:
        child, parent = (i, j) if dist[i] > dist[j] else (j, i)
        inward[parent, child] = 1.0  # information flows from child (further) to parent
    outward = inward.T.copy()
    eye = np.eye(v, dtype=np.float32)
    return np.stack([eye, normalize(inward), normalize(outward)])


def bone_pairs(layout: Layout) -> np.ndarray:
    """(V, 2) array [joint, parent] with the centre as its own parent, for the bone stream."""
    v = layout.num_joints
    dist = hop_distance(v, layout.bones, layout.centre)
    parent = np.arange(v)
    for i, j in layout.bones:
        child, par = (i, j) if dist[i] > dist[j] else (j, i)
        parent[child] = par
    return np.stack([np.arange(v), parent], axis=1)
