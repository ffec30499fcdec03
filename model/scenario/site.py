"""Where the feeder is, and its weather."""

import zoneinfo
from functools import cache

from pydantic import Field, field_validator

from lemgrid.model.scenario._base import _Section


@cache
def _time_zones() -> frozenset[str]:
    """The IANA names this system knows (read from disk once: it takes tens of ms)."""
    return frozenset(zoneinfo.available_timezones())


class Site(_Section):
    """Where the feeder is: sets the sun path, the climate and the local clock."""

    latitude_deg: float = Field(53.48, ge=-90, le=90)
    longitude_deg: float = Field(-2.24, ge=-180, le=180)
    timezone: str = "Europe/London"
    annual_mean_temperature_c: float = Field(10.0, ge=-30, le=40)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        if v not in _time_zones():
            raise ValueError("must be an IANA time zone name such as 'Europe/London'")
        return v


class Weather(_Section):
    """The sky (a stochastic clear-sky index: clear or cloudy days, intra-day fluctuation) and the air.

    Outdoor temperature: ``temperature_file`` (CSV ``timestamp,temperature_c``,
    hourly, timestamps with their UTC offset) or, if null, the model of
    :func:`agents.profiles.ambient_temperature_c`: ``site.annual_mean_temperature_c``
    plus a seasonal cosine (``seasonal_amplitude_k``, warmest mid-July) and a daily
    one (``daily_amplitude_k``, warmest 15:00). It sets heating demand, heat-pump
    COP and the PV cell temperature.
    """

    temperature_file: str | None = None
    seasonal_amplitude_k: float = Field(7.0, ge=0, le=30)
    daily_amplitude_k: float = Field(4.0, ge=0, le=15)
    clear_day_probability: float = Field(0.4, ge=0, le=1)
    cloudy_day_mean_clearness: float = Field(0.45, gt=0, lt=1)
    cloudy_variability: float = Field(0.25, ge=0, le=1)
    autocorrelation: float = Field(0.8, ge=0, lt=1)
