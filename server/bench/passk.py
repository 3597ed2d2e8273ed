"""The unbiased pass@k estimator (Chen et al., 2021) and its averages over cases.

pass@k = 1 - C(n-c, k) / C(n, k): the probability that at least one of k samples drawn without
replacement from n generated samples (c of them correct) passes. The ratio of binomials is computed
as a product, prod_{i=n-c+1}^{n} (1 - k/i), which neither overflows nor loses precision for large n.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with ``n`` samples of which ``c`` passed."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        # Every draw of k samples contains at least one correct one.
        return 1.0
    ratio = 1.0  # C(n-c, k) / C(n, k)
    for i in range(n - c + 1, n + 1):
        ratio *= 1.0 - k / i
    return 1.0 - ratio


def reportable_ks(ks: Iterable[int], n: int) -> list[int]:
    """The ks that can be estimated from n samples (k > n is not reported), sorted, unique."""
    return sorted({k for k in ks if 1 <= k <= n})


def mean_pass_at_k(tasks: Sequence[tuple[int, int]], ks: Iterable[int]) -> dict[str, float]:
    """Average pass@k over tasks given as (n, c) pairs.

    A k is reported only when every task has at least k samples, so that every case contributes
    to the average of every reported column.
    """
    if not tasks:
        return {}
    smallest_n = min(n for n, _ in tasks)
    return {
        f"pass@{k}": sum(pass_at_k(n, c, k) for n, c in tasks) / len(tasks)
        for k in reportable_ks(ks, smallest_n)
    }
