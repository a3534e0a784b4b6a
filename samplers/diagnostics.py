"""Autocorrelation times, effective sample sizes and standard errors of correlated time series.

Window rule (Sokal, "Monte Carlo methods in statistical mechanics", 1997): the integrated autocorrelation time
tau_int(M) = 1 + 2 sum_{t=1}^{M} rho(t) is summed up to the smallest window M >= c tau_int(M), c = 5. Chains of the
same process are pooled by averaging their autocorrelation functions. tau_int is in units of the sampling interval;
1 means uncorrelated samples.
"""

from __future__ import annotations

import numpy as np

#: Sokal's window constant.
WINDOW_C = 5.0


def autocorrelation(series: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation rho(t) of (S,) or (B, S) series, averaged over chains, by FFT."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n = x.shape[-1]
    if n < 2:
        raise ValueError(f"an autocorrelation needs at least 2 samples; got {n}.")
    x = x - x.mean(-1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(x, size)
    acf = np.fft.irfft(spectrum * spectrum.conj(), size)[:, :n].mean(0)
    if acf[0] == 0:
        return np.r_[1.0, np.zeros(n - 1)]  # a constant series: no correlation to speak of
    return acf / acf[0]


def integrated_autocorrelation_time(series: np.ndarray, c: float = WINDOW_C) -> float:
    """tau_int of (S,) or (B, S) series with Sokal's automatic window."""
    rho = autocorrelation(series)
    tau = 2.0 * np.cumsum(rho) - 1.0  # tau[M] = 1 + 2 sum_{t=1}^{M} rho(t)
    windows = np.arange(len(rho))
    inside = windows >= c * tau
    return float(tau[np.argmax(inside)] if inside.any() else tau[-1])


def effective_sample_size(series: np.ndarray) -> float:
    """Number of independent samples the (S,) or (B, S) series is worth: B S / tau_int."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    return x.size / max(integrated_autocorrelation_time(x), 1.0)


def standard_error(series: np.ndarray) -> float:
    """Standard error of the mean of correlated (S,) or (B, S) series: sqrt(var / ESS)."""
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    return float(np.sqrt(x.var() / effective_sample_size(x)))
