"""stats: the one percentile definition of the chaos tools (nearest rank:
the smallest value with at least p% of the values at or below it)."""

import math


def percentile(values, p):
    """Nearest-rank percentile of `values`; None if there are none."""
    values = sorted(values)
    if not values:
        return None
    return values[max(0, min(len(values) - 1, math.ceil(p / 100.0 * len(values)) - 1))]
