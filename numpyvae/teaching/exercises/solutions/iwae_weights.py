"""Solution: the IWAE bound L_K = log (1/K) sum_k w_k and its gradient.

    dL_K / d log w_k = (1/K) e^{log w_k} / ((1/K) sum_l e^{log w_l}) = w_k / sum_l w_l = softmax_k(log w),

the self-normalized importance weight of sample k (the 1/K cancels). Multiplied by g, one number per image.
Computed shifted by each image's largest log weight m: log sum_k e^{log w_k} = m + log sum_k e^{log w_k - m},
where every exponent is at most 0 (no overflow) and one of them is exactly 0 (the sum is at least 1: no
underflow to log 0). The softmax uses the same shifted exponentials.
"""

import numpy as np


class IWAEBound:
    def forward(self, log_w: np.ndarray) -> np.ndarray:
        peak = log_w.max(axis=0)
        shifted = np.exp(log_w - peak)
        total = shifted.sum(axis=0)
        self.normalized = shifted / total
        return peak + np.log(total) - np.log(len(log_w))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return self.normalized * np.asarray(grad_out)
