from math import comb

import pytest

from mlops_lsp.bench.passk import mean_pass_at_k, pass_at_k, reportable_ks


def by_binomials(n: int, c: int, k: int) -> float:
    return 1.0 - comb(n - c, k) / comb(n, k)


def test_known_values():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(3, 0, 1) == 0.0
    assert pass_at_k(3, 0, 3) == 0.0
    assert pass_at_k(3, 3, 1) == 1.0
    assert pass_at_k(3, 3, 3) == 1.0
    assert pass_at_k(3, 1, 3) == 1.0  # every draw of all 3 contains the correct one
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2) = 1 - 3/6


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20])
def test_matches_the_binomial_definition(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(by_binomials(n, c, k), abs=1e-12)


def test_large_n_is_stable():
    # C(1000, 500) overflows a float; the product form does not.
    value = pass_at_k(1000, 1, 500)
    assert value == pytest.approx(0.5)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)  # k > n cannot be estimated
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 0)


def test_k_larger_than_n_is_not_reported():
    assert reportable_ks([1, 3, 5], 3) == [1, 3]
    assert reportable_ks([3, 1, 1], 1) == [1]
    scores = mean_pass_at_k([(1, 1), (1, 0)], [1, 3])
    assert scores == {"pass@1": pytest.approx(0.5)}
    assert "pass@3" not in scores


def test_mean_over_cases():
    # case A: n=5, c=2 -> pass@1 0.4; case B: n=5, c=5 -> 1.0; case C: n=5, c=0 -> 0.0
    scores = mean_pass_at_k([(5, 2), (5, 5), (5, 0)], [1, 3])
    assert scores["pass@1"] == pytest.approx((0.4 + 1.0 + 0.0) / 3)
    assert scores["pass@3"] == pytest.approx((by_binomials(5, 2, 3) + 1.0 + 0.0) / 3)


def test_a_task_with_fewer_samples_limits_the_reported_ks():
    assert set(mean_pass_at_k([(3, 1), (1, 1)], [1, 3])) == {"pass@1"}
    assert mean_pass_at_k([], [1]) == {}
