"""Offline generation of each household's base load and PV output, one trace per household.

Base load: the BDEW H0 standard load profile with its dynamisation factor
(VDEW 1999; via ``demandlib``), scaled by the household's annual consumption,
shifted in time by a per-household offset and multiplied by mean-one
log-normal AR(1) noise, so no two households share a trace.

PV: clear-sky irradiance (Ineichen-Perez, via ``pvlib``) times a stochastic
clear-sky index (clear or cloudy days, AR(1) fluctuation within a day),
decomposed into beam and diffuse (Erbs et al., 1982), transposed to each
array's tilt and azimuth (isotropic sky), converted with PVWatts and the
Faiman cell-temperature model, and clipped at the inverter rating.

All randomness comes from the ``rng`` passed in. Powers are averages over each
interval in kW; the interval grid is given by its start times.
"""

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pvlib
from demandlib import bdew

_SLP_MINUTES = 15  # BDEW profiles are quarter-hourly


def h0_kw_per_annual_kwh(years: range) -> pd.Series:
    """BDEW H0 (dynamised) as kW per kWh of annual consumption, quarter-hourly, naive local time.

    Each calendar year's profile integrates to exactly 1 kWh per kWh of annual consumption.
    """
    return pd.concat([_h0_year(year) for year in years])


@cache
def _h0_year(year: int) -> pd.Series:
    # demandlib 0.2.2 calls warnings.simplefilter("error") globally while it builds
    # profiles; the context manager restores the caller's warning filters afterwards.
    with warnings.catch_warnings():
        h0 = bdew.ElecSlp(year).create_dynamic_h0_profile()
    return h0 / h0.sum() * (60 / _SLP_MINUTES)


def base_load_kw(
    starts: pd.DatetimeIndex,
    interval_minutes: int,
    annual_kwh: np.ndarray,
    shift_minutes: np.ndarray,
    noise_sigma: float,
    noise_autocorrelation: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Average base-load power per household and interval, shape (n_households, n_intervals).

    Args:
        starts: interval start times (time-zone aware, local clock of the site).
        interval_minutes: interval length.
        annual_kwh: each household's annual consumption.
        shift_minutes: each household's time offset of its daily routine.
        noise_sigma: standard deviation of the log-noise.
        noise_autocorrelation: lag-one autocorrelation of the log-noise per interval.
        rng: the model's random generator.

    """
    wall = starts.tz_localize(None)
    margin = int(np.abs(shift_minutes).max(initial=0)) + interval_minutes
    first = (wall[0] - pd.Timedelta(minutes=margin)).year
    last = (wall[-1] + pd.Timedelta(minutes=margin)).year
    profile = h0_kw_per_annual_kwh(range(first, last + 1))
    origin = profile.index[0]
    values = profile.to_numpy()
    start_minute = ((wall - origin) / pd.Timedelta(minutes=1)).to_numpy().astype(np.int64)
    minutes = start_minute[:, None] + np.arange(interval_minutes)[None, :]  # (n_int, minutes)
    shape = np.stack(
        [values[(minutes + s) // _SLP_MINUTES].mean(axis=1) for s in shift_minutes.astype(np.int64)]
    )
    noise = lognormal_ar1(rng, len(annual_kwh), len(starts), noise_sigma, noise_autocorrelation)
    return annual_kwh[:, None] * shape * noise


def lognormal_ar1(rng: np.random.Generator, n: int, steps: int, sigma: float, phi: float) -> np.ndarray:
    """Mean-one multiplicative noise exp(x - sigma^2/2), x a stationary AR(1) with std ``sigma``."""
    eps = rng.standard_normal((n, steps))
    x = np.empty((n, steps))
    x[:, 0] = sigma * eps[:, 0]
    innovation = sigma * np.sqrt(1 - phi**2)
    for t in range(1, steps):
        x[:, t] = phi * x[:, t - 1] + innovation * eps[:, t]
    return np.exp(x - sigma**2 / 2)


def clear_sky_index(
    starts: pd.DatetimeIndex,
    clear_day_probability: float,
    cloudy_day_mean: float,
    cloudy_variability: float,
    autocorrelation: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Feeder-wide clear-sky index per interval (GHI / clear-sky GHI), in [0.05, 1.1].

    Each day is clear (index ~1 with 2 % fluctuation) with ``clear_day_probability``,
    otherwise cloudy: a daily mean drawn from Beta(8 m, 8 (1 - m)) with mean ``m``
    plus AR(1) fluctuation of standard deviation ``cloudy_variability``. Values
    above 1 model cloud enhancement. The same sky covers the whole feeder.
    """
    days = starts.normalize()
    day_codes, day_of_interval = np.unique(days, return_inverse=True)
    n_days = len(day_codes)
    clear = rng.random(n_days) < clear_day_probability
    mean = np.where(clear, 1.0, rng.beta(8 * cloudy_day_mean, 8 * (1 - cloudy_day_mean), n_days))
    spread = np.where(clear, 0.02, cloudy_variability)
    fluctuation = np.log(lognormal_ar1(rng, 1, len(starts), 1.0, autocorrelation)[0]) + 0.5
    k = mean[day_of_interval] + spread[day_of_interval] * fluctuation
    return np.clip(k, 0.05, 1.1)


def ambient_temperature_c(
    times: pd.DatetimeIndex,
    annual_mean_c: float,
    latitude_deg: float,
    seasonal_amplitude_k: float = 7.0,
    daily_amplitude_k: float = 4.0,
) -> np.ndarray:
    """Air temperature from a seasonal plus diurnal cosine (warmest mid-July / 15:00 local).

    Default amplitudes 7 K (season) and 4 K (day) are typical of a temperate maritime site;
    the season flips in the southern hemisphere.
    """
    day = times.dayofyear.to_numpy()
    hour = (times.hour + times.minute / 60).to_numpy()
    season = seasonal_amplitude_k * np.cos(2 * np.pi * (day - 196) / 365.25) * np.sign(latitude_deg or 1.0)
    daily = daily_amplitude_k * np.cos(2 * np.pi * (hour - 15) / 24)
    return annual_mean_c + season + daily


def pv_ac_kw(
    starts: pd.DatetimeIndex,
    interval_minutes: int,
    latitude_deg: float,
    longitude_deg: float,
    annual_mean_temperature_c: float,
    clearness: np.ndarray,
    kwp: np.ndarray,
    tilt_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    inverter_ac_dc_ratio: float,
    system_losses: float,
    temperature_coefficient_per_k: float,
    temp_air_c: np.ndarray | None = None,
) -> np.ndarray:
    """AC output per PV system and interval, shape (n_systems, n_intervals), evaluated mid-interval.

    ``temp_air_c``: outdoor temperature per interval (mid-interval); None: the
    model of :func:`ambient_temperature_c` around ``annual_mean_temperature_c``.
    """
    mid = starts + pd.Timedelta(minutes=interval_minutes / 2)
    location = pvlib.location.Location(latitude_deg, longitude_deg, tz=str(starts.tz))
    sun = location.get_solarposition(mid)
    clear = location.get_clearsky(mid, model="ineichen", solar_position=sun)
    ghi = clear["ghi"].to_numpy() * clearness
    parts = pvlib.irradiance.erbs(ghi, sun["zenith"].to_numpy(), mid)
    temp_air = temp_air_c
    if temp_air is None:
        temp_air = ambient_temperature_c(mid, annual_mean_temperature_c, latitude_deg)
    out = np.zeros((len(kwp), len(starts)))
    for i in range(len(kwp)):
        poa = pvlib.irradiance.get_total_irradiance(
            surface_tilt=tilt_deg[i],
            surface_azimuth=azimuth_deg[i],
            solar_zenith=sun["apparent_zenith"].to_numpy(),
            solar_azimuth=sun["azimuth"].to_numpy(),
            dni=np.asarray(parts["dni"]),
            ghi=ghi,
            dhi=np.asarray(parts["dhi"]),
            model="isotropic",
        )["poa_global"]
        poa = np.nan_to_num(np.asarray(poa, dtype=float), nan=0.0).clip(min=0.0)
        temp_cell = pvlib.temperature.faiman(poa, temp_air, wind_speed=1.0)
        dc = pvlib.pvsystem.pvwatts_dc(poa, temp_cell, kwp[i], temperature_coefficient_per_k)
        out[i] = np.clip(dc * (1 - system_losses), 0.0, kwp[i] * inverter_ac_dc_ratio)
    return out
