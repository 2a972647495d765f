"""The model's configuration: every argument of ``VAE(...)``, typed, with its flag and its check.

``numpyvae.models.build(config, seed)`` builds the model a ``ModelConfig`` describes: the one-layer VAE
(``VAE(**dataclasses.asdict(config))``), or, when ``latent_dims`` lists the sizes of the stochastic layers, the
HierarchicalVAE of ``hierarchical_arguments()``. ``VAE.config`` is the resolved configuration as a dict
(``resolved()``: the architecture's defaults written out), which checkpoints and safetensors files store.

The hierarchical model's layers (``layers()``): the first stochastic layer's networks are shaped by
``hidden_dims``, ``decoder_dims``, ``activations`` and ``decoder_activations`` as the VAE's; each layer above
has ``upper_hidden_dims`` (default: ``hidden_dims``) between z_{i-1} and z_i, its decoder mirrored, and the
first layer's activations when they are one name for all layers or when the depths agree (else the seed's
pattern, ``architecture.resolve``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ..config import at_least, between, from_dict, setting
from ..nn.layers import ACTIVATIONS
from ..nn.losses import LIKELIHOODS, RECONSTRUCTIONS
from .architecture import Architecture, resolve

PRIORS = ("standard", "vampprior")
PSEUDO_INPUTS = 500  # the VampPrior's M of Tomczak & Welling's MNIST runs


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
    k: int = setting(1, "importance samples per image K of --objective iwae and of --iwae-after (1 is the "
                     "ELBO with a sampled KL)",
                     check=at_least(1), metavar="K")
    kl: str = setting("analytic", "analytic: the seed's closed-form KL; sampled: log q(z|x) - log p(z) at the "
                      "sampled z", choices=("analytic", "sampled"))
    likelihood: str = setting("clipped", "clipped: the seed's probabilities clipped to [1e-8, 1 - 1e-8]; exact: "
                              "log sigmoid by logaddexp, no clip", choices=LIKELIHOODS)
    free_bits: float = setting(0.0, "free bits (Kingma et al. 2016): the KL term becomes sum_d max(LAMBDA, KL_d), "
                               "KL_d the batch mean of latent dimension d's KL, so no dimension is pushed below "
                               "LAMBDA nats (0: the seed's KL; ELBO with --kl analytic only)", check=at_least(0),
                               metavar="LAMBDA")
    latent_dims: list[int] | None = setting(
        None, "sizes of the stochastic layers z1 ... zL, bottom up: the VAE with several stochastic layers "
        "(Burda et al. 2016: 100 50; one size: one layer, as for the VampPrior of the seed's model; default: the "
        "one-layer VAE of --latent-dim)", check=at_least(1), metavar="WIDTH")
    upper_hidden_dims: list[int] | None = setting(
        None, "widths of the deterministic layers between z_(i-1) and z_i for every layer i >= 2 (its decoder "
        "mirrors them; default: --hidden-dims)", check=at_least(1), metavar="WIDTH")
    prior: str = setting("standard", "p(z_L) of the top layer: standard: N(0, I); vampprior: the VampPrior "
                         "(Tomczak & Welling 2018), a mixture of the posteriors of --pseudo-inputs learned inputs "
                         "(needs --latent-dims, and --kl sampled with the ELBO)", choices=PRIORS)
    pseudo_inputs: int = setting(PSEUDO_INPUTS, "pseudo-inputs M of --prior vampprior", check=at_least(1),
                                 metavar="M")

    @property
    def hierarchical(self) -> bool:
        """Whether the configuration describes the HierarchicalVAE (``latent_dims`` given)."""
        return self.latent_dims is not None

    def rules(self) -> list[tuple[bool, str]]:
        """The settings that do not go together, each with the message that names its flags."""
        iwae = self.objective == "iwae"
        rules = [
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
        layered = self.hierarchical
        rules += [
            (not layered or self.latent_dim == 20,
             "--latent-dim sizes the one-layer VAE's code: with --latent-dims, give the sizes there"),
            (not layered or self.variational, "--latent-dims builds a VAE: it needs --model vae"),
            (not layered or self.reconstruction == "bernoulli",
             "--reconstruction mse needs the one-layer VAE: the model of --latent-dims is Bernoulli"),
            (not layered or self.num_classes == 0,
             "--conditional needs the one-layer VAE: the model of --latent-dims is unconditional"),
            (not layered or not self.free_bits, "--free-bits needs the one-layer VAE (no --latent-dims)"),
            (self.upper_hidden_dims is None or (layered and len(self.latent_dims) > 1),
             "--upper-hidden-dims shapes the layers above z1: it needs --latent-dims with two or more sizes"),
            (self.prior == "standard" or layered,
             "--prior vampprior needs --latent-dims (one size, e.g. --latent-dims 20, for a single stochastic "
             "layer)"),
            (self.prior == "standard" or self.objective == "iwae" or self.kl == "sampled",
             "--prior vampprior has no closed-form KL: the ELBO needs --kl sampled"),
            (self.prior == "vampprior" or self.pseudo_inputs == PSEUDO_INPUTS,
             "--pseudo-inputs sets the VampPrior's M: it needs --prior vampprior"),
        ]
        try:
            self.layers()
        except ValueError as error:
            rules.append((False, f"model layers: {error}"))
        return rules

    def layers(self) -> list[Architecture]:
        """The networks' shapes of each stochastic layer, bottom up (one for the VAE); ValueError naming the
        first problem. Layer i >= 2: ``upper_hidden_dims`` (default ``hidden_dims``), the decoder mirrored, the
        first layer's activations when they are one name or of the same depth, else the seed's pattern."""
        first = resolve(self.hidden_dims, self.decoder_dims, self.activations, self.decoder_activations)
        upper = self.upper_hidden_dims or first.hidden_dims
        names = first.activations
        names = names[:1] if len(set(names)) == 1 else names if len(names) == len(upper) else None
        return [first] + [resolve(upper, None, names) for _ in (self.latent_dims or [])[1:]]

    def hierarchical_arguments(self) -> dict:
        """The arguments of ``HierarchicalVAE(...)`` (but ``seed``) for this configuration (``latent_dims``
        given). The IWAE bound samples its own KL: the model then takes its default estimator."""
        shapes = self.layers()
        return dict(input_dim=self.input_dim, latent_dims=list(self.latent_dims),
                    hidden_dims=[s.hidden_dims for s in shapes], keep_prob=self.keep_prob, dtype=self.dtype,
                    decoder_dims=[s.decoder_dims for s in shapes], activations=[s.activations for s in shapes],
                    decoder_activations=[s.decoder_activations for s in shapes], objective=self.objective,
                    k=self.k, kl=None if self.objective == "iwae" else self.kl, likelihood=self.likelihood,
                    prior=self.prior, components=self.pseudo_inputs, kl_weight=self.kl_weight)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """The name and shape of every parameter of the model this configuration builds (weights (in, out), as
        ``params`` holds them), computed without building it: what a file's arrays must match."""
        if self.hierarchical:
            return self._hierarchical_shapes()
        config, shapes = self.resolved(), {}
        n_in = config.input_dim + config.num_classes
        _network_shapes(shapes, "encoder", n_in, config.hidden_dims, config.activations,
                        {"mean": config.latent_dim, "std": config.latent_dim})
        _network_shapes(shapes, "decoder", config.latent_dim + config.num_classes, config.decoder_dims,
                        config.decoder_activations, {"output": config.input_dim})
        return shapes

    def _hierarchical_shapes(self) -> dict[str, tuple[int, ...]]:
        """``parameter_shapes`` of the HierarchicalVAE: encoder{i}.fc*, .mean, .std (q(z_i | z_(i-1))),
        decoder{i}.fc*, .mean, .std for i >= 2 (p(z_(i-1) | z_i)), decoder1.fc*, .output (p(x | z1)) and, with
        the VampPrior, prior.pseudo_inputs (M, input_dim)."""
        shapes, sizes, layers = {}, [self.input_dim, *self.latent_dims], self.layers()
        for i, shape in enumerate(layers, start=1):
            _network_shapes(shapes, f"encoder{i}", sizes[i - 1], shape.hidden_dims, shape.activations,
                            {"mean": sizes[i], "std": sizes[i]})
        for i in range(len(layers), 1, -1):
            _network_shapes(shapes, f"decoder{i}", sizes[i], layers[i - 1].decoder_dims,
                            layers[i - 1].decoder_activations, {"mean": sizes[i - 1], "std": sizes[i - 1]})
        _network_shapes(shapes, "decoder1", sizes[1], layers[0].decoder_dims, layers[0].decoder_activations,
                        {"output": self.input_dim})
        if self.prior == "vampprior":
            shapes["prior.pseudo_inputs"] = (self.pseudo_inputs, self.input_dim)
        return shapes

    def resolved(self) -> ModelConfig:
        """The same configuration with the architecture's defaults written out (models.architecture.resolve);
        the upper layers' widths too, for a model of two or more stochastic layers."""
        shape = resolve(self.hidden_dims, self.decoder_dims, self.activations, self.decoder_activations)
        upper = self.upper_hidden_dims
        if self.hierarchical and len(self.latent_dims) > 1:
            upper = list(upper or shape.hidden_dims)
        return replace(self, hidden_dims=shape.hidden_dims, decoder_dims=shape.decoder_dims,
                       activations=shape.activations, decoder_activations=shape.decoder_activations,
                       upper_hidden_dims=upper)


def _network_shapes(shapes: dict, name: str, n_in: int, widths: list[int], activations: list[str],
                    heads: dict[str, int]) -> None:
    """Enter the weight (in, out) and bias (out,) shapes of network ``name``: fc1 .. fcN, whose Dense layers
    have ``widening`` x their width outputs (2 before a GLU), then its heads, each reading the last width."""
    for index, (width, activation) in enumerate(zip(widths, activations, strict=True), start=1):
        out = ACTIVATIONS[activation].widening * width
        shapes[f"{name}.fc{index}.weight"], shapes[f"{name}.fc{index}.bias"] = (n_in, out), (out,)
        n_in = width
    for head, width in heads.items():
        shapes[f"{name}.{head}.weight"], shapes[f"{name}.{head}.bias"] = (n_in, width), (width,)


def read_model_config(stored, source: str) -> dict:
    """A stored model configuration (a checkpoint's, an export's), read strictly and checked, with every setting
    written out: the architecture's defaults, and the defaults of the settings an older file predates.
    ValueError naming ``source`` for anything else, before any array is allocated."""
    return asdict(from_dict(ModelConfig, stored, source).resolved())
