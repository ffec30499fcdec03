"""What a device can do in the coming interval."""

from typing import NamedTuple


class Flexibility(NamedTuple):
    """Feasible average power of a device over the coming interval (injection positive).

    A named tuple: every device states one or more per interval.

    Attributes:
        p_min_kw: the most the device can consume (most negative injection).
        p_max_kw: the most it can inject (for a load: the least it must consume, as a negative number or 0).
        discrete: only the two ends are feasible (an appliance cycle either starts or waits).
        urgency: 0 when the device could wait, 1 when it must take ``p_min_kw`` now (a deadline).
    """

    p_min_kw: float
    p_max_kw: float
    discrete: bool = False
    urgency: float = 0.0

    def clip(self, p_kw: float) -> float:
        """The feasible power closest to ``p_kw``."""
        if self.discrete:
            return self.p_min_kw if abs(p_kw - self.p_min_kw) <= abs(p_kw - self.p_max_kw) else self.p_max_kw
        return min(max(p_kw, self.p_min_kw), self.p_max_kw)
