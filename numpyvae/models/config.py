"""The VAE's configuration: every argument of ``VAE(...)``, typed, with its flag and its check.

``VAE(**dataclasses.asdict(config))`` builds the model a ``ModelConfig`` describes (``seed=`` beside it draws
the weights); ``VAE.config`` is the resolved configuration as a dict (``resolved()``: the architecture's
defaults written out), which checkpoints and safetensors files store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import at_least, between, from_dict, setting, to_dict, validate
from ..nn.layers import ACTIVATIONS
from ..nn.losses import LIKELIHOODS, RECONSTRUCTIONS
from .architecture import resolve


@dataclass
class ModelConfig:
    """The settings of the VAE (the seed's model with the defaults)."""

    input_dim: int = setting(784, "pixels per image", check=at_least(1), required=True, command_line=False)
    hidden_dims: list[int] = setting([500, 500], "widths of the encoder's hidden layers, one or more (the "
                                     "decoder mirrors them)", check=at_least(1), metavar="WIDTH", required=True)
    latent_dim: int = setting(20, "size of the latent code z", check=at_least(1), required=True)
    keep_prob: float = setting(0.9, "dropout keep probability", check=between(0, 1, low_open=True), required=True)
    dtype: str = setting("float32", "floating-point type of the run", choices=("float32", "float64"), required=True)
    variational: bool = setting(True, "vae: the seed's VAE; ae: the plain autoencoder (no sampling, no KL)",
                                flag="--model", choices={"vae": True, "ae": False}, required=True)
    reconstruction: str = setting("bernoulli", "bernoulli: the seed's cross-entropy; mse: a Gaussian "
                                  "(squared-error) likelihood", choices=tuple(RECONSTRUCTIONS), required=True)
    kl_weight: float = setting(1.0, "weight of the KL term (beta-VAE)", check=at_least(0))
    decoder_dims: list[int] | None = setting(None, "widths of the decoder's hidden layers (default: --hidden-dims "
                                             "reversed)", check=at_least(1), metavar="WIDTH")
    activations: list[str] | None = setting(
        None, f"each encoder hidden layer's activation, one of {', '.join(ACTIVATIONS)}; one name for all layers "
        "or one per layer (default: elu for all but the last layer, tanh for the last: the seed's elu tanh)",
        choices=tuple(ACTIVATIONS), metavar="NAME")
    decoder_activations: list[str] | None = setting(
        None, "each decoder hidden layer's activation (default: the encoder's reversed, the seed's tanh elu)",
        choices=tuple(ACTIVATIONS), metavar="NAME")
    num_classes: int = setting(0, "classes of the conditional VAE (0: unconditional)", check=at_least(0),
                               command_line=False)
    objective: str = setting("elbo", "elbo: the seed's one-sample ELBO; iwae: the importance-weighted bound with "
                             "--k samples", choices=("elbo", "iwae"))
    k: int = setting(1, "importance samples per image K of --objective iwae (1 is the ELBO with a sampled KL)",
                     check=at_least(1), metavar="K")
    kl: str = setting("analytic", "analytic: the seed's closed-form KL; sampled: log q(z|x) - log p(z) at the "
                      "sampled z", choices=("analytic", "sampled"))
    likelihood: str = setting("clipped", "clipped: the seed's probabilities clipped to [1e-8, 1 - 1e-8]; exact: "
                              "log sigmoid by logaddexp, no clip", choices=LIKELIHOODS)
    free_bits: float = setting(0.0, "free bits (Kingma et al. 2016): the KL term becomes sum_d max(LAMBDA, KL_d), "
                               "KL_d the batch mean of latent dimension d's KL, so no dimension is pushed below "
                               "LAMBDA nats (0: the seed's KL; ELBO with --kl analytic only)", check=at_least(0),
                               metavar="LAMBDA")

    def rules(self) -> list[tuple[bool, str]]:
        """The settings that do not go together, each with the message that names its flags."""
        iwae = self.objective == "iwae"
        rules = [
            (self.k == 1 or iwae, "--k sets the samples of --objective iwae; the ELBO draws one"),
            (not iwae or self.variational, "--objective iwae needs --model vae (the autoencoder has no posterior)"),
            (not iwae or self.kl_weight == 1,
             "--objective iwae has no KL term to weigh: --kl-weight and --kl-warmup apply to the ELBO only"),
            (not iwae or self.kl == "analytic", "--kl chooses the ELBO's KL estimator; the IWAE bound samples its own"),
            (self.kl == "analytic" or self.variational, "--kl sampled needs --model vae (the autoencoder has no KL)"),
            (not self.free_bits or not iwae,
             "--free-bits replaces the ELBO's KL term; the IWAE bound has none: it needs --objective elbo"),
            (not self.free_bits or self.variational, "--free-bits needs --model vae (the autoencoder has no KL)"),
            (not self.free_bits or self.kl == "analytic",
             "--free-bits floors each dimension's analytic KL: it needs --kl analytic"),
            (self.likelihood == "clipped" or self.reconstruction == "bernoulli",
             "--likelihood exact is the Bernoulli likelihood without its clip: it needs --reconstruction bernoulli"),
        ]
        try:
            self.resolved()
        except ValueError as error:
            rules.append((False, f"model layers: {error}"))
        return rules

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The name and shape of every parameter of the VAE this configuration builds (weights (in, out), as
        ``VAE.params`` holds them), computed without building it: what a file's arrays must match."""
        config, shapes = self.resolved(), {}
        for network, n_in, widths, heads in (
                ("encoder", config.input_dim + config.num_classes, config.hidden_dims,
                 {"mean": config.latent_dim, "std": config.latent_dim}),
                ("decoder", config.latent_dim + config.num_classes, config.decoder_dims, {"output": config.input_dim})):
            layers = {f"fc{index}": width for index, width in enumerate(widths, start=1)} | heads
            for layer, width in layers.items():
                shapes[f"{network}.{layer}.weight"], shapes[f"{network}.{layer}.bias"] = (n_in, width), (width,)
                n_in = width if layer.startswith("fc") else n_in
        return shapes

    def resolved(self) -> ModelConfig:
        """The same configuration with the architecture's defaults written out (models.architecture.resolve)."""
        shape = resolve(self.hidden_dims, self.decoder_dims, self.activations, self.decoder_activations)
        return replace(self, hidden_dims=shape.hidden_dims, decoder_dims=shape.decoder_dims,
                       activations=shape.activations, decoder_activations=shape.decoder_activations)


def read_model_config(stored, source: str) -> dict:
    """A stored model configuration (a checkpoint's, an export's), read strictly and checked, with every setting
    written out: the architecture's defaults, and the defaults of the settings an older file predates.
    ValueError naming ``source`` for anything else, before any array is allocated."""
    return to_dict(validate(from_dict(ModelConfig, stored, source)).resolved())
