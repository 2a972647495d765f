"""Solution: the whole VAE's backward pass, from its parts.

    L = (1/B) sum_n [beta KL_n - log p(x_n | z_n)],   so  dL/d(log p(x_n | z_n)) = -1/B,  dL/dKL_n = beta/B.

1. The decoder: from the logits down to z, each layer's backward in reverse order.
2. z = mu + sigma * eps: dL/dz reaches mu as it is and sigma times eps; the KL adds its own gradient to each
   (the first place where two paths add up).
3. The heads: mu = h W_mu + b_mu and sigma = 1e-6 + softplus(h W_sigma + b_sigma); both read h, so the
   gradients they send back to h add up (the second place).
4. The encoder's trunk, from h down to its first layer.
"""


def backward(model, terms, eps) -> None:
    batch = len(terms.losses)                                       # L is the mean of the B losses
    grad = model.reconstruction.backward(-1 / batch)                # dL/dlogits, (B, P)
    for layer in reversed(model.decoder.layers):
        grad = layer.backward(grad)
    grad_z = grad                                                   # dL/dz, (B, J)
    kl_grad_mu, kl_grad_sigma = model.kl.backward(model.effective_kl_weight() / batch)
    grad_mu = grad_z + kl_grad_mu
    grad_sigma = grad_z * eps + kl_grad_sigma
    dense_sigma, softplus = model.std_head.layers
    grad_h = model.mean_head.backward(grad_mu) + dense_sigma.backward(softplus.backward(grad_sigma))
    for layer in reversed(model.encoder.layers):
        grad_h = layer.backward(grad_h)
