"""Each new model learns: 200 Adam steps on 1,000 dynamically binarized MNIST training images lower its loss on
fixed held-out images with fixed noise (numpyvae.nn.optim.Adam directly; train.py's integration comes later).
Each takes 1 to 3 s on an idle 2-core machine (no time is asserted: the machine is shared)."""

import time

import numpy as np
import pytest

from numpyvae.data import to_float
from numpyvae.models.hierarchical import HierarchicalVAE
from numpyvae.nn.optim import Adam

MODELS = {  # Burda et al.'s two-layer architecture (the default); the seed's 500-500-20 with a VampPrior
    "two layers elbo": dict(),
    "two layers iwae k=5": dict(objective="iwae", k=5),
    "vamp one layer (seed-style, dropout)": dict(latent_dims=(20,), hidden_dims=[[500, 500]], activations=None,
                                                 keep_prob=0.9, prior="vampprior", components=100),
    "vamp two layers": dict(prior="vampprior", components=100),
}


@pytest.mark.parametrize("name", MODELS)
def test_model_learns_mnist_with_adam(mnist, name):
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    train = to_float(mnist.train_images[:1000], np.float32)
    held_out = (rng.random((200, 784)) < to_float(mnist.test_images[:200], np.float32)).astype(np.float32)
    model = HierarchicalVAE(784, seed=0, **MODELS[name])
    if model.prior == "vampprior":
        model.init_pseudo_inputs(train)
    k = (model.k,) if model.objective == "iwae" else ()
    noise = [rng.standard_normal((*k, 200, width), dtype=np.float32) for width in model.latent_dims]

    def held_out_loss():
        return model.loss(held_out, training=False, eps=noise)

    before = held_out_loss()
    optimizer = Adam(model.params, lr=1e-3)
    losses = []
    for _ in range(200):
        rows = rng.choice(len(train), 100, replace=False)
        x = (rng.random((100, 784), dtype=np.float32) < train[rows]).astype(np.float32)
        losses.append(model.loss(x))
        model.backward()
        optimizer.step(model.grads)
    after = held_out_loss()
    assert np.all(np.isfinite(losses)) and all(p.dtype == np.float32 for p in model.params.values())
    # 544 nats (784 pixels at p = 1/2) at the start; clearly lower after 200 steps
    print(f"{name}: held-out loss {before:.1f} -> {after:.1f}, {time.perf_counter() - started:.1f} s")
    assert after < before - 150 and np.mean(losses[-20:]) < np.mean(losses[:20]) - 150, (before, after)
