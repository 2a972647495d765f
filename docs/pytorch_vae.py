"""numpyvae's VAE as a PyTorch nn.Module, built from the settings a numpyvae export carries.

Load a file written by ``python -m numpyvae.export``, continue training, save it back for numpyvae:

    model = TorchVAE.from_safetensors("model.safetensors")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for x in batches:                      # (B, 784) tensors in [0, 1], in the model's dtype
        train_step(model, optimizer, x)
    save_file(model.state_dict(), "trained.safetensors", metadata=model.numpyvae_metadata())
"""

import json
import math

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

PROB_CLIP = 1e-8                                          # numpyvae clips p to [1e-8, 1 - 1e-8] ...
LOGIT_CLIP = math.log((1 - PROB_CLIP) / PROB_CLIP)        # ... which is clipping the logits to +-18.42
STD_FLOOR = 1e-6                                          # std = 1e-6 + softplus(h W + b)
VARIANCE_GUARD = 1e-8                                     # the KL's log(1e-8 + std^2)


def softplus(x):
    """log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow, and none of nn.Softplus's shortcut
    (which returns x itself above 20, 2e-9 off, more than float64 comparisons allow)."""
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-x.abs()))


class Softplus(nn.Module):
    def forward(self, x):
        return softplus(x)


ACTIVATIONS = {"elu": nn.ELU, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01),
               "sigmoid": nn.Sigmoid, "softplus": Softplus, "glu": nn.GLU}
WIDENING = {"glu": 2}  # nn.GLU halves its input: the nn.Linear before it has twice the layer's width


class Stack(nn.Module):
    """fc1 .. fcN, each an nn.Linear followed by its activation and dropout (keep_prob -> p = 1 - keep_prob)."""

    def __init__(self, n_in, widths, activations, keep_prob):
        super().__init__()
        self.depth = len(widths)
        for index, (width, name) in enumerate(zip(widths, activations, strict=True), start=1):
            self.add_module(f"fc{index}", nn.Linear(n_in, WIDENING.get(name, 1) * width))
            self.add_module(f"act{index}", ACTIVATIONS[name]())
            n_in = width
        self.width = n_in
        self.dropout = nn.Dropout(p=1 - keep_prob)

    def hidden(self, x):
        for index in range(1, self.depth + 1):
            x = self.dropout(getattr(self, f"act{index}")(getattr(self, f"fc{index}")(x)))
        return x


class Encoder(Stack):
    """q(z | x): the hidden stack, then two heads, the mean and std = 1e-6 + softplus(.)."""

    def __init__(self, n_in, widths, activations, keep_prob, latent_dim):
        super().__init__(n_in, widths, activations, keep_prob)
        self.mean = nn.Linear(self.width, latent_dim)
        self.std = nn.Linear(self.width, latent_dim)

    def forward(self, x):
        h = self.hidden(x)
        return self.mean(h), STD_FLOOR + softplus(self.std(h))


class Decoder(Stack):
    """p(x | z): the hidden stack, then the output layer's logits."""

    def __init__(self, n_in, widths, activations, keep_prob, output_dim):
        super().__init__(n_in, widths, activations, keep_prob)
        self.output = nn.Linear(self.width, output_dim)

    def forward(self, z):
        return self.output(self.hidden(z))


class TorchVAE(nn.Module):
    """The VAE of a numpyvae config (``model.config`` of numpyvae, all settings written out).

    Parameter names and shapes are the export's: encoder.fc1.weight (out, in), ..., decoder.output.bias.
    A conditional model (num_classes > 0) appends the one-hot label to the encoder's input and to z.
    """

    def __init__(self, config):
        super().__init__()
        self.config = dict(config)
        self.latent_dim, self.num_classes = config["latent_dim"], config.get("num_classes", 0)
        self.variational = config.get("variational", True)
        self.reconstruction = config.get("reconstruction", "bernoulli")
        self.likelihood = config.get("likelihood", "clipped")
        self.encoder = Encoder(config["input_dim"] + self.num_classes, config["hidden_dims"],
                               config["activations"], config["keep_prob"], config["latent_dim"])
        self.decoder = Decoder(config["latent_dim"] + self.num_classes, config["decoder_dims"],
                               config["decoder_activations"], config["keep_prob"], config["input_dim"])
        self.to(getattr(torch, config["dtype"]))

    @classmethod
    def from_safetensors(cls, path):
        """The model in a numpyvae export (or in a file this class saved with ``numpyvae_metadata``)."""
        with safe_open(path, framework="pt") as file:
            settings = json.loads(file.metadata()["numpyvae_config"])
        model = cls(settings["model"])
        model.load_state_dict(load_file(path))
        model.eval()  # dropout off, as numpyvae evaluates; call model.train() to continue training
        return model

    def numpyvae_metadata(self, step=None, dataset="mnist", binarization="none"):
        """The ``metadata=`` for safetensors.torch.save_file that lets numpyvae.load_model read the file."""
        dtype = str(next(self.parameters()).dtype).removeprefix("torch.")
        settings = {"model": {**self.config, "dtype": dtype}, "binarization": binarization, "dataset": dataset,
                    "step": step}
        return {"numpyvae_format": "numpyvae-safetensors", "numpyvae_version": "1",
                "numpyvae_config": json.dumps(settings, allow_nan=False)}

    def one_hot(self, labels, like):
        """The labels (B,) as one-hot rows in the dtype of ``like``; None for an unconditional model."""
        return nn.functional.one_hot(labels, self.num_classes).to(like.dtype) if self.num_classes else None

    def encode(self, x, labels=None):
        """The posterior mean and std, both (B, latent_dim)."""
        y = self.one_hot(labels, x)
        return self.encoder(x if y is None else torch.cat([x, y], dim=1))

    def logits(self, z, labels=None):
        """The decoder's output before the sigmoid, (B, input_dim)."""
        y = self.one_hot(labels, z)
        return self.decoder(z if y is None else torch.cat([z, y], dim=1))

    def decode(self, z, labels=None):
        """The Bernoulli means p(x | z), clipped to [1e-8, 1 - 1e-8] unless the likelihood is "exact"."""
        a = self.logits(z, labels)
        return torch.sigmoid(a if self.likelihood == "exact" else a.clamp(-LOGIT_CLIP, LOGIT_CLIP))

    def log_likelihood(self, logits, x):
        """log p(x | z) per example (B,): numpyvae's clipped Bernoulli, its exact one, or its Gaussian (mse)."""
        if self.reconstruction == "mse":
            p = torch.sigmoid(logits.clamp(-LOGIT_CLIP, LOGIT_CLIP))  # log N(x; p, I), its constant included
            return -0.5 * ((x - p) ** 2).sum(dim=1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
        a = logits if self.likelihood == "exact" else logits.clamp(-LOGIT_CLIP, LOGIT_CLIP)
        return (x * a - softplus(a)).sum(dim=1)  # = x log p + (1 - x) log(1 - p),  p = sigmoid(a)


def kl_divergence(mean, std):
    """KL(N(mean, std^2) || N(0, I)) per example (B,), in numpyvae's guarded form."""
    variance = std * std
    return 0.5 * (variance + mean * mean - torch.log(VARIANCE_GUARD + variance) - 1).sum(dim=1)


def negative_elbo(model, x, eps, labels=None, kl_weight=1.0):
    """numpyvae's loss: -mean over the batch of [log p(x | z) - kl_weight KL], z = mean + std * eps.

    The plain autoencoder (variational False) decodes the mean and pays no KL. Dropout follows
    model.training, as nn.Dropout does.
    """
    mean, std = model.encode(x, labels)
    if not model.variational:
        return -model.log_likelihood(model.logits(mean, labels), x).mean()
    z = mean + std * eps
    return (kl_weight * kl_divergence(mean, std) - model.log_likelihood(model.logits(z, labels), x)).mean()


def train_step(model, optimizer, x, labels=None):
    """One step of numpyvae's training in PyTorch: dropout on, fresh noise, the -ELBO's gradient, the update."""
    model.train()
    optimizer.zero_grad()
    loss = negative_elbo(model, x, torch.randn(len(x), model.latent_dim, dtype=x.dtype), labels)
    loss.backward()
    optimizer.step()
    return loss.item()
