"""One settings object for confidence intervals, shared by every metric and statistic."""

from __future__ import annotations

from dataclasses import dataclass

from evalsuite.errors import ConfigError


@dataclass(frozen=True)
class Resampling:
    """How an interval is computed: ``ci`` on/off, bootstrap resamples, level and seed.

    ``Resampling()`` means no interval; ``Resampling(ci=True)`` a 95% interval
    from 1,000 seeded resamples.
    """

    ci: bool = False
    n_boot: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise ConfigError(f"confidence must be in (0, 1), got {self.confidence!r}")
        if self.n_boot < 1:
            raise ConfigError(f"n_boot must be >= 1, got {self.n_boot!r}")

    def label(self, method: str = "boot") -> str | None:
        """The signature part naming the interval (``boot1000@0.95``), or None without one."""
        return f"{method}{self.n_boot}@{self.confidence:g}" if self.ci else None


NO_CI = Resampling()
