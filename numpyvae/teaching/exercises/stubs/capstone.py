"""Capstone: the whole VAE's backward pass, written from its parts.

The check builds numpyvae's own VAE with small sizes (12 pixels, hidden widths 7 and 6, J = 3, float64,
dropout on, beta = 0.5), runs its forward pass, terms = model.loss_terms(x, True, eps), and then calls your
backward(model, terms, eps). Your function must fill model.grads: for every key of model.params
(encoder.fc1.weight, ..., decoder.output.bias), dL/d(that parameter), where

    L = (1/B) sum over the images n of [beta KL_n - log p(x_n | z_n)],     z = mu + sigma * eps

Every gradient is compared with central differences of the real model's loss (the dropout masks held fixed).
Do not call model.backward or its helpers (model._posterior_backward, model._logits_backward): writing that
chain is the exercise. Everything else is yours to use. What the forward pass computed is handed to you:

    eps                        the noise (B, J) of z = mu + sigma * eps
    terms                      its LossTerms: terms.mean (mu) and terms.std (sigma), both (B, J), and
                               terms.log_likelihood, terms.kl, terms.losses, all (B,): L is terms.losses.mean()

and the model's parts, each holding what its own forward pass cached:

    model.reconstruction       log p(x | z): .backward(g) takes g = dL/d(log p(x | z)), (B,) or a number
    model.kl                   the KL: .backward(g) takes g = dL/dKL and returns (dL/dmu, dL/dsigma)
    model.effective_kl_weight()   beta (0.5 in the check)
    model.decoder.layers       Dense, activation, Dropout, ..., the output Dense: each has .backward(g)
    model.mean_head            the Dense layer mu = h W_mu + b_mu
    model.std_head.layers      [the Dense layer a_sigma = h W_sigma + b_sigma, the Softplus]
    model.encoder.layers       the trunk, x to h (its first Dense layer returns no dL/dx)

A Dense layer's backward(g) writes its dL/dW and dL/db into model.grads for you and returns dL/d(its input).
Draw the graph first (python -m numpyvae.explain graph): where do two paths meet, and what adds up there?
Stuck? python -m numpyvae.exercises hint capstone

Check it:  python -m numpyvae.exercises check capstone
"""


def backward(model, terms, eps) -> None:
    """Fill model.grads with dL/d(parameter) for the forward pass terms = model.loss_terms(x, True, eps)."""
    raise NotImplementedError("backward: from the loss down to encoder.fc1, filling model.grads")
