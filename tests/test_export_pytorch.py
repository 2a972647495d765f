"""The exported file in PyTorch: docs/pytorch.md's module loads it with safetensors.torch.load_file and computes
what numpyvae computes; a file PyTorch saves loads into numpyvae and evaluates to PyTorch's -ELBO."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from numpyvae import load_model
from numpyvae.data import to_float
from numpyvae.evaluation import bounds as ev
from numpyvae.formats.modelfile import export
from numpyvae.models.vae import VAE

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

DOCS = Path(__file__).resolve().parent.parent / "docs"
SMALL = dict(input_dim=12, hidden_dims=(7, 6), latent_dim=3)
DEFAULT = dict(input_dim=784)
THREE = dict(input_dim=12, hidden_dims=(9, 8, 7), activations=["relu", "leaky_relu", "tanh"], decoder_dims=(5, 6),
             decoder_activations=["sigmoid", "softplus"], latent_dim=3)
CONDITIONAL = dict(SMALL, num_classes=10)
# the gated dense layers of the VampPrior paper: fc{i} of twice the width, nn.GLU in PyTorch; one gated layer in
# each network beside an ordinary one
GATED = dict(SMALL, activations=["glu", "tanh"], decoder_activations=["elu", "glu"])
FAMILY = {"small": SMALL, "three layers": THREE, "gated": GATED, "conditional": CONDITIONAL,
          "exact": dict(SMALL, likelihood="exact"),
          "mse": dict(SMALL, reconstruction="mse"), "autoencoder": dict(SMALL, variational=False)}
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-6}


def doc_module():
    spec = importlib.util.spec_from_file_location("pytorch_vae", DOCS / "pytorch_vae.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pv = doc_module()


def assert_close(actual, desired, tolerance):
    """The largest difference at most ``tolerance`` times the largest value (1 for probabilities, ~3 for the
    means). In float32 each implementation is itself ~1e-6 of the scale away from a float64 evaluation of
    the same weights (their matrix products add in different orders), so 1e-6 is as close as float32 allows."""
    actual = actual.detach().numpy() if isinstance(actual, torch.Tensor) else actual
    difference = np.abs(actual.astype(np.float64) - desired).max()
    assert difference <= tolerance * max(1.0, np.abs(desired).max()), difference


def trained_looking(model, seed=1):
    """Move every parameter off its initial value (biases start at zero): weights by a fifth of their spread,
    biases by 0.05, about what training does to them."""
    rng = np.random.default_rng(seed)
    for param in model.params.values():
        scale = 0.2 * param.std() if param.ndim == 2 else 0.05
        param += (rng.standard_normal(param.shape) * scale).astype(param.dtype)
    return model


def test_the_doc_shows_the_module_the_tests_run():
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "pytorch.md").read_text(), flags=re.S)
    assert (DOCS / "pytorch_vae.py").read_text() in blocks


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [SMALL, DEFAULT, THREE, GATED, CONDITIONAL],
                         ids=["small", "default", "three", "gated", "cvae"])
def test_pytorch_reproduces_posterior_means_and_decoder_outputs(tmp_path, dtype, shape):
    """Both models of one exported file compute the same posteriors and decoder outputs.

    In float64 numpyvae is held to PyTorch itself. In float32 each is held to the same float64 evaluation of the
    file's weights (PyTorch's module in double precision), not to the other: two float32 answers each within
    1e-6 of the scale of the truth can be 2e-6 apart, as they are on an Intel Xeon with OpenBLAS's SkylakeX
    kernels against PyTorch's own products."""
    model = trained_looking(VAE(**shape, dtype=dtype, seed=2))
    export(model, tmp_path / "model.safetensors")

    def torch_model_of(file_dtype):
        torch_model = pv.TorchVAE(pv.json.loads(pv.safe_open(str(tmp_path / "model.safetensors"), "pt")
                                                .metadata()["numpyvae_config"])["model"])
        torch_model.load_state_dict(safetensors_torch.load_file(tmp_path / "model.safetensors"))
        return torch_model.to(getattr(torch, np.dtype(file_dtype).name)).eval()

    torch_model, truth = torch_model_of(dtype), torch_model_of(np.float64)
    rng = np.random.default_rng(0)
    x = to_float(rng.integers(0, 256, (64, model.config["input_dim"]), dtype=np.uint8), model.dtype)
    z = rng.standard_normal((64, model.config["latent_dim"])).astype(dtype)
    labels = rng.integers(0, 10, 64) if model.conditional else None
    torch_labels = None if labels is None else torch.from_numpy(labels)

    def both_close(ours, torch_call, *inputs):
        """numpyvae's ``ours`` and PyTorch's answer in the file's dtype, each against the float64 reference."""
        theirs = torch_call(torch_model)(*(torch.from_numpy(one) for one in inputs), torch_labels)
        reference = torch_call(truth)(*(torch.from_numpy(one.astype(np.float64)) for one in inputs), torch_labels)
        theirs, reference = ([part] if isinstance(part, torch.Tensor) else list(part) for part in (theirs, reference))
        ours = [ours] if isinstance(ours, np.ndarray) else list(ours)
        for mine, other, exact in zip(ours, theirs, reference, strict=True):
            assert other.dtype == getattr(torch, np.dtype(dtype).name)
            desired = (other if dtype == np.float64 else exact).numpy()
            assert_close(mine, desired, TOLERANCE[dtype])
            assert_close(other, exact.numpy(), TOLERANCE[dtype])

    with torch.no_grad():
        both_close(model.encode(x, labels), lambda m: m.encode, x)
        for latent in (z, model.encode(x, labels)[0]):  # the decoder on prior draws and on the posterior means
            both_close(model.decode(latent, labels), lambda m: m.decode, latent)


def test_from_safetensors_is_the_same_model(tmp_path):
    model = trained_looking(VAE(**SMALL, dtype=np.float64))
    export(model, tmp_path / "model.safetensors")
    torch_model = pv.TorchVAE.from_safetensors(tmp_path / "model.safetensors")
    assert not torch_model.training
    for name, tensor in torch_model.state_dict().items():
        param = model.params[name]
        assert np.array_equal(tensor.numpy(), param.T if name.endswith("weight") else param), name


def torch_trained(config, dtype, steps=5):
    """A PyTorch model of the doc, initialized by PyTorch and trained a few steps there."""
    torch.manual_seed(0)
    model = pv.TorchVAE({**config, "dtype": np.dtype(dtype).name})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(32, config["input_dim"], dtype=getattr(torch, np.dtype(dtype).name))
    labels = torch.arange(32) % 10 if config["num_classes"] else None
    losses = [pv.train_step(model, optimizer, x, labels) for _ in range(steps)]
    assert losses[-1] < losses[0]
    return model.eval()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [SMALL, THREE, GATED, CONDITIONAL], ids=["small", "three", "gated", "cvae"])
def test_a_file_saved_by_pytorch_evaluates_to_pytorchs_negative_elbo(tmp_path, dtype, shape):
    config = _full_config(shape)
    torch_model = torch_trained(config, dtype)
    path = tmp_path / "from_torch.safetensors"
    safetensors_torch.save_file(torch_model.state_dict(), path, metadata=torch_model.numpyvae_metadata(step=5))
    model = load_model(path)
    assert model.dtype == dtype and model.config == {**config, "dtype": np.dtype(dtype).name}
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (50, shape["input_dim"]), dtype=np.uint8)
    labels = rng.integers(0, 10, 50) if model.conditional else None
    # evaluate's noise: its generator (seed 0) draws eps for the one batch of 50 images
    eps = np.random.default_rng(0).standard_normal((50, shape["latent_dim"]), dtype=dtype)
    with torch.no_grad():
        expected = pv.negative_elbo(torch_model, torch.from_numpy(to_float(images, dtype)), torch.from_numpy(eps),
                                    None if labels is None else torch.from_numpy(labels))
    measured = ev.negative_elbo(model, images, batch_size=50, seed=0, labels=labels)
    assert abs(measured - expected.item()) <= TOLERANCE[dtype] * abs(expected.item())
    for name, tensor in torch_model.state_dict().items():
        param = model.params[name]
        assert np.array_equal(param.T if name.endswith("weight") else param, tensor.numpy()), name


@pytest.mark.parametrize("shape", FAMILY.values(), ids=FAMILY.keys())
def test_numpyvae_gradients_equal_autograd_of_the_docs_loss(tmp_path, shape):
    model = trained_looking(VAE(**shape, dtype=np.float64))
    export(model, tmp_path / "model.safetensors")
    torch_model = pv.TorchVAE.from_safetensors(tmp_path / "model.safetensors")
    rng = np.random.default_rng(4)
    x, eps = rng.uniform(0, 1, (9, shape["input_dim"])), rng.standard_normal((9, shape["latent_dim"]))
    labels = rng.integers(0, 10, 9) if model.conditional else None
    loss = model.loss(x, training=False, eps=eps, labels=labels)
    model.backward()
    torch_loss = pv.negative_elbo(torch_model, torch.from_numpy(x), torch.from_numpy(eps),
                                  None if labels is None else torch.from_numpy(labels))
    torch_loss.backward()
    assert abs(loss - torch_loss.item()) <= 1e-12 * abs(loss)
    for name, param in torch_model.named_parameters():
        grad = model.grads[name]
        # the autoencoder never uses the std head: autograd leaves its gradient None, numpyvae's is zero
        torch_grad = torch.zeros_like(param) if param.grad is None else param.grad
        np.testing.assert_allclose(torch_grad.numpy(), grad.T if name.endswith("weight") else grad, rtol=1e-10,
                                   atol=1e-12, err_msg=name)


def _full_config(shape):
    return VAE(**shape).config
