from xorlab.modelrepo.stats import rate, wilson


def test_wilson_interval():
    lo, hi = wilson(8, 10)  # the textbook example: 0.490 - 0.943
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    lo, hi = wilson(0, 1000)  # never 0 width, never below 0
    assert lo == 0.0 and 0.0038 < hi < 0.0039
    assert wilson(1000, 1000)[1] == 1.0


def test_wilson_bounds_stay_in_the_unit_interval_at_any_size():
    for n in (1, 7, 1000, 1_000_000):
        for k in {0, 1, n // 2, n - 1, n}:
            lo, hi = wilson(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_rate_carries_its_interval():
    r = rate(878, 1000)
    assert r["n"] == 1000 and r["successes"] == 878 and r["rate"] == 0.878
    assert r["ci95"] == wilson(878, 1000)
