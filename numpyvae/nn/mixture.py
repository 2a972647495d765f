"""The log-density of an equally weighted mixture of diagonal Gaussians, with its hand-written gradient.

The VampPrior (Tomczak & Welling 2018) is such a mixture: p(z) = (1/M) sum_m N(z; mu_m, diag s_m^2), whose
M components are the encoder's posteriors at M learned pseudo-inputs. ``MixtureLogDensity`` is the term on
its own: it takes the components' means and standard deviations as inputs and hands their gradients back,
so that the caller can carry them on through the encoder into the pseudo-inputs.
"""

from __future__ import annotations

import math

import numpy as np

from .losses import LOG_2PI


class MixtureLogDensity:
    """log p(z) = log (1/M) sum_m N(z; mu_m, diag s_m^2), for N points z (N, D) and M components (M, D): (N,).

    With c_nm = log N(z_n; mu_m, s_m) = -1/2 sum_d (z_nd - mu_md)^2 / s_md^2 - sum_d log s_md - (D/2) log 2 pi,

        log p(z_n) = logsumexp_m c_nm - log M,

    computed shifted by the largest c_nm of each row so that nothing overflows. Its gradient is the
    responsibilities r_nm = softmax_m c_nm (the share of component m in point n) times each component's own
    partial derivatives, those of one Gaussian (``GaussianLogDensity``):

        d log p(z_n) / dz_nd   = sum_m r_nm (mu_md - z_nd) / s_md^2,
        d log p(z_n) / dmu_md  =         r_nm (z_nd - mu_md) / s_md^2,
        d log p(z_n) / ds_md   =         r_nm [(z_nd - mu_md)^2 / s_md^3 - 1 / s_md].

    Summed over the points with upstream weights g_n, and with G_nm = g_n r_nm, every sum is a matrix
    product: the square (z - mu)^2 / s^2 is expanded as z^2 / s^2 - 2 z mu / s^2 + mu^2 / s^2, so nothing of
    shape (N, M, D) is ever made (N = 5000 rows of an IWAE chunk against M = 500 components would be 1 GB).
    The expansion loses some digits where z^2 / s^2 is large beside (z - mu)^2 / s^2: exact to rounding in
    float64 (the checks), a few 1e-6 relative of c in float32 for a component with s ~ 0.1 at |z| ~ 1.
    """

    def forward(self, z: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
        precision = 1 / (stds * stds)                                          # (M, D) 1 / s^2
        scaled_means = means * precision                                       # (M, D) mu / s^2
        self.z, self.means, self.stds, self.precision = z, means, stds, precision
        # sum_d (z - mu)^2 / s^2 for every pair (n, m): (N, M)
        square = (z * z) @ precision.T
        square -= 2 * (z @ scaled_means.T)
        square += np.sum(means * scaled_means, axis=1)
        log_components = -0.5 * square
        log_components -= np.sum(np.log(stds), axis=1) + means.dtype.type(0.5 * means.shape[1] * LOG_2PI)
        peak = log_components.max(axis=1)
        shifted = np.exp(log_components - peak[:, None])
        total = shifted.sum(axis=1)
        self.responsibilities = shifted / total[:, None]                       # (N, M) r_nm, rows sum to 1
        return peak + np.log(total) - means.dtype.type(math.log(len(means)))

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """dL/dz (N, D), dL/dmeans (M, D), dL/dstds (M, D) from dL/dlog p(z), a scalar or (N,)."""
        z, means, precision = self.z, self.means, self.precision
        weights = self.responsibilities * np.asarray(grad_out, dtype=z.dtype).reshape(-1, 1)   # G_nm = g_n r_nm
        mass = weights.sum(axis=0)[:, None]                                    # (M, 1) sum_n G_nm
        # dz_n = sum_m G_nm (mu_m - z_n) / s_m^2
        grad_z = weights @ (means * precision) - z * (weights @ precision)
        weighted_z = weights.T @ z                                             # (M, D) sum_n G_nm z_n
        # dmu_m = sum_n G_nm (z_n - mu_m) / s_m^2
        grad_means = (weighted_z - means * mass) * precision
        # ds_m = sum_n G_nm [(z_n - mu_m)^2 / s_m^3 - 1 / s_m], the square expanded as in the forward pass
        spread = weights.T @ (z * z) - 2 * means * weighted_z + means * means * mass
        grad_stds = (spread * precision - mass) / self.stds
        return grad_z, grad_means, grad_stds
