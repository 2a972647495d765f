"""Two stochastic layers and the VampPrior against PyTorch autograd: an independent torch forward pass of the same
objective (written from the model's definition, not from its code: the mixture by broadcasting over components,
not by the expanded square), differentiated by torch, against the hand-written backward pass, in float64."""

import math

import numpy as np
import pytest

from numpyvae.models.hierarchical import HierarchicalVAE
from numpyvae.nn.layers import Dropout

torch = pytest.importorskip("torch")
F = torch.nn.functional
ACT = {"tanh": torch.tanh, "elu": F.elu, "relu": F.relu, "sigmoid": torch.sigmoid, "softplus": F.softplus,
       "leaky_relu": lambda t: F.leaky_relu(t, 0.01), "glu": F.glu}
INPUT, BATCH = 20, 7
CASES = {
    "2 layers elbo analytic": dict(),
    "2 layers elbo sampled": dict(kl="sampled"),
    "2 layers elbo beta": dict(kl_weight=0.4),
    "2 layers elbo exact": dict(likelihood="exact"),
    "2 layers iwae": dict(objective="iwae", k=5),
    "vamp 2 layers elbo": dict(prior="vampprior"),
    "vamp 2 layers iwae": dict(prior="vampprior", objective="iwae", k=4),
    "vamp 1 layer elbo": dict(latent_dims=(5,), hidden_dims=[[9, 8]], activations=None, prior="vampprior"),
    "vamp 1 layer iwae": dict(latent_dims=(5,), hidden_dims=[[9, 8]], activations=None, prior="vampprior",
                              objective="iwae", k=3),
    "1 layer analytic": dict(latent_dims=(5,), hidden_dims=[[9, 8]], activations=None),
    "vamp 2 layers iwae gated": dict(activations="glu", prior="vampprior", objective="iwae", k=3),
    "vamp 3 layers iwae relu": dict(latent_dims=(6, 4, 3), hidden_dims=[[9], [7], [5]], activations="relu",
                                    prior="vampprior", objective="iwae", k=3),
}


def build(options, keep_prob=1.0, seed=3):
    options = {"latent_dims": (6, 4), "hidden_dims": [[9, 8], [7, 5]], "components": 6, **options}
    model = HierarchicalVAE(INPUT, keep_prob=keep_prob, seed=seed, dtype=np.float64, **options)
    rng = np.random.default_rng(seed + 100)
    for name, param in model.params.items():  # off the special point of zero biases
        if name.endswith(".bias"):
            param += rng.normal(0, 0.1, param.shape)
    if "prior.pseudo_inputs" in model.params:
        model.params["prior.pseudo_inputs"][...] = rng.uniform(0, 1, model.params["prior.pseudo_inputs"].shape)
    x = rng.uniform(0, 1, (BATCH, INPUT))
    k = (model.k,) if model.objective == "iwae" else ()
    eps = [rng.standard_normal((*k, BATCH, width)) for width in model.latent_dims]
    return model, x, eps


def dropout_masks(model):
    """The scaled masks (m / q) each network drew in the last forward pass, by the network's name."""
    networks = {f"encoder{i + 1}": e.trunk for i, e in enumerate(model.encoders)}
    networks.update({f"decoder{i + 1}": d.trunk for i, d in enumerate(model.decoders) if d is not None})
    networks["decoder1"] = model.decoder
    return {name: [layer.scaled_mask for layer in net.layers if isinstance(layer, Dropout)]
            for name, net in networks.items()}


def torch_loss(config, params, x, eps, masks=None, kl_weight=1.0):
    """The model's loss from its definition (module docstring of numpyvae.models.hierarchical), in torch."""
    levels = len(config["latent_dims"])

    def dense(h, name):
        return h @ params[f"{name}.weight"] + params[f"{name}.bias"]

    def trunk(h, name, activations, dropout):
        for index, activation in enumerate(activations):
            h = ACT[activation](dense(h, f"{name}.fc{index + 1}"))
            mask = masks[name][index] if dropout and masks and masks[name][index] is not None else None
            h = h if mask is None else h * torch.tensor(mask)
        return h

    def gaussian(h, name, activations, dropout=True):
        t = trunk(h, name, activations, dropout)
        return dense(t, f"{name}.mean"), 1e-6 + F.softplus(dense(t, f"{name}.std"))

    def log_normal(z, mean, std):
        return (-0.5 * ((z - mean) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)

    tx = torch.tensor(x)
    noise = [torch.tensor(e if e.ndim == 3 else e[None]) for e in eps]
    k, batch = noise[0].shape[:2]
    z, posteriors, h = [], [], tx
    for i in range(levels):
        mean, std = gaussian(h, f"encoder{i + 1}", config["activations"][i])
        shape = (-1 if i else 1, batch, mean.shape[-1])  # the first layer's q is shared by the K samples
        mean, std = mean.reshape(shape), std.reshape(shape)
        posteriors.append((mean, std))
        z.append(mean + std * noise[i])
        h = z[-1].reshape(k * batch, -1)
    logits = dense(trunk(z[0].reshape(k * batch, -1), "decoder1", config["decoder_activations"][0], True),
                   "decoder1.output").reshape(k, batch, -1)
    if config["likelihood"] == "exact":
        log_likelihood = (tx * F.logsigmoid(logits) + (1 - tx) * F.logsigmoid(-logits)).sum(-1)
    else:
        p = torch.sigmoid(logits).clamp(1e-8, 1 - 1e-8)
        log_likelihood = (tx * torch.log(p) + (1 - tx) * torch.log(1 - p)).sum(-1)
    kl = 0
    for i in range(levels - 1):
        mean, std = gaussian(z[i + 1].reshape(k * batch, -1), f"decoder{i + 2}", config["decoder_activations"][i + 1])
        kl = kl - log_normal(z[i], mean.reshape(z[i].shape), std.reshape(z[i].shape))
    analytic = config["kl"] == "analytic" and config["objective"] == "elbo"
    for i in range(levels - 1 if analytic else levels):
        kl = kl + log_normal(z[i], *posteriors[i])
    if analytic:
        mean, std = posteriors[-1]
        kl = kl + 0.5 * (mean ** 2 + std ** 2 - torch.log(1e-8 + std ** 2) - 1).sum(-1)
    elif config["prior"] == "vampprior":
        h = params["prior.pseudo_inputs"]
        for i in range(levels):  # the chain on the pseudo-inputs, lower layers at their means, no dropout
            h, std = gaussian(h, f"encoder{i + 1}", config["activations"][i], dropout=False)
        components = log_normal(z[-1][..., None, :], h, std)                    # (K, B, M) by broadcasting
        kl = kl - (torch.logsumexp(components, -1) - math.log(len(h)))
    else:
        kl = kl - (-0.5 * z[-1] ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_weights = log_likelihood - kl
    if config["objective"] == "iwae":
        return -(torch.logsumexp(log_weights, 0) - math.log(k)).mean()
    return (kl_weight * kl - log_likelihood).mean()


def compare(model, x, eps, training):
    loss = model.loss(x, training, eps)
    model.backward()
    params = {name: torch.tensor(p, requires_grad=True) for name, p in model.params.items()}
    masks = dropout_masks(model) if training else None
    expected = torch_loss(model.config, params, x, eps, masks, model.kl_weight)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    for name, p in params.items():
        np.testing.assert_allclose(model.grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", CASES)
def test_gradients_match_torch_autograd(name):
    options = dict(CASES[name])
    weight = options.pop("kl_weight", 1.0)
    model, x, eps = build(options)
    model.kl_weight = weight
    compare(model, x, eps, training=False)


@pytest.mark.parametrize("name", ["2 layers elbo analytic", "2 layers iwae", "vamp 2 layers iwae", "vamp 1 layer elbo"])
def test_gradients_match_torch_autograd_with_dropout(name):
    model, x, eps = build(CASES[name], keep_prob=0.7)
    compare(model, x, eps, training=True)


def test_torch_reference_catches_a_wrong_gradient(monkeypatch):
    """The comparison can fail: a VampPrior whose pseudo-input gradient is dropped is caught."""
    model, x, eps = build(CASES["vamp 2 layers elbo"])
    original = HierarchicalVAE._prior_components_backward

    def forgetful(self, grad_means, grad_stds):
        original(self, grad_means, grad_stds)
        self.grads["prior.pseudo_inputs"][...] = 0

    monkeypatch.setattr(HierarchicalVAE, "_prior_components_backward", forgetful)
    with pytest.raises(AssertionError, match="prior.pseudo_inputs"):
        compare(model, x, eps, training=False)
