"""Capstone: the whole VAE's backward pass, written from its parts.

The check builds numpyvae's own VAE with small sizes (12 pixels, hidden widths 7 and 6, J = 3, float64,
dropout on), runs its forward pass, model.loss(x, True, eps), and then calls your backward(model). Your
function must fill model.grads: for every key of model.params (encoder.fc1.weight, ..., decoder.output.bias),
dL/d(that parameter), where

    L = (1/B) sum over the images n of [beta KL_n - log p(x_n | z_n)],     z = mu + sigma * eps

Every gradient is compared with central differences of the real model's loss (the dropout masks held fixed).
Do not call model.backward or its helpers (model._posterior_backward, model._logits_backward): writing that
chain is the exercise. Everything else is yours to use, in particular what the forward pass left behind:

    model.eps (B, J), model.z_mean (mu) and model.z_std (sigma), both (B, J)
    model.reconstruction       log p(x | z): .backward(g) takes g = dL/d(log p(x | z)), (B,) or a number
    model.kl_term              the KL: .backward(g) takes g = dL/dKL and returns (dL/dmu, dL/dsigma)
    model.kl_term_weight()     beta
    model.decoder.layers       Dense, activation, Dropout, ..., the output Dense: each has .backward(g)
    model.mean_head            the Dense layer mu = h W_mu + b_mu
    model.std_head.layers      [the Dense layer a_sigma = h W_sigma + b_sigma, the Softplus]
    model.encoder.layers       the trunk, x to h (its first Dense layer returns no dL/dx)

A Dense layer's backward(g) writes its dL/dW and dL/db into model.grads for you and returns dL/d(its input).
Draw the graph first (python -m numpyvae.explain graph): where do two paths meet, and what adds up there?
Stuck? python -m numpyvae.exercises hint capstone

Check it:  python -m numpyvae.exercises check capstone
"""


def backward(model) -> None:
    """Fill model.grads with dL/d(parameter) for the batch of the last model.loss(x, True, eps)."""
    raise NotImplementedError("backward: from the loss down to encoder.fc1, filling model.grads")
