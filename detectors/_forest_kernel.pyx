# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The isolation forest's path lengths for a batch, every tree in one call.

Compiled with Cython at install (``setup.py``) into ``clearance.detectors._forest_native``;
:class:`clearance.detectors.scorers.ForestScorer` uses it when it was built from this source
(``detectors/_native.py``) and walks the trees with scikit-learn otherwise.

scikit-learn's ``Tree.apply`` costs a few microseconds per call whatever the batch's size, and
the forest needs one call per tree: about 0.4 ms per batch for 100 trees, which the worker's
batches of a few dozen events paid per event. Here the trees are flattened into arrays
(:func:`clearance.detectors.scorers._flatten`) and walked in one call:

* every node has two children, side by side in ``children`` (a leaf's both point back to
  itself), so a step is ``node = children[2 * node + went_right]``, without a branch, and every
  walk takes the forest's greatest depth in steps (a walk that reached its leaf stays there);
* rows are walked 16 at a time through the same tree, so that 16 independent walks overlap
  their memory reads.

Each row goes right exactly when scikit-learn's goes right (``not value <= threshold``, NaN
included, with the row's float32 value compared as a double as scikit-learn does), so it ends
in the same leaf; and each row's lengths are added tree after tree in the forest's order, as
the pure-Python path adds them: the sums are the same, bit for bit.
"""

cdef enum:
    BLOCK = 16


def add_path_lengths(
    const float[:, ::1] rows,
    const Py_ssize_t[::1] roots,
    const Py_ssize_t[::1] feature,
    const double[::1] threshold,
    const Py_ssize_t[::1] children,
    const double[::1] length,
    Py_ssize_t depth,
    double[::1] out,
):
    """Add to ``out[i]`` the path length of ``rows[i]`` in every tree, tree after tree.

    ``roots[t]`` is tree ``t``'s root in the flattened node arrays; ``feature`` and
    ``threshold`` are each node's split (any valid feature for a leaf), ``children[2 * n]`` and
    ``children[2 * n + 1]`` node ``n``'s left and right child (``n`` itself for a leaf),
    ``length`` the path length a row ending in each node gets, ``depth`` the greatest depth of
    any leaf.
    """
    cdef Py_ssize_t count = rows.shape[0], trees = roots.shape[0]
    cdef Py_ssize_t start, size, tree, root, step, j, node
    cdef Py_ssize_t nodes[BLOCK]
    if out.shape[0] != count:
        raise ValueError("out must have one entry per row")
    with nogil:
        start = 0
        while start < count:
            size = min(<Py_ssize_t>BLOCK, count - start)
            for tree in range(trees):
                root = roots[tree]
                for j in range(size):
                    nodes[j] = root
                for step in range(depth):
                    for j in range(size):
                        node = nodes[j]
                        nodes[j] = children[
                            2 * node + (not (rows[start + j, feature[node]] <= threshold[node]))
                        ]
                for j in range(size):
                    out[start + j] += length[nodes[j]]
            start += BLOCK
