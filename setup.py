from setuptools import find_packages, setup

setup(
    name="numpyvae",
    version="0.1.0",
    description="A variational autoencoder in NumPy with every gradient written by hand and checked",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["numpyvae", "numpyvae.*"]),
    python_requires=">=3.10",
    install_requires=["numpy", "pillow>=10.1", "tqdm"],  # Pillow 10.1: its scalable default font
    extras_require={
        # nbclient, nbformat, ipykernel: tests/test_notebook.py runs notebooks/walkthrough.ipynb in a kernel
        "test": ["pytest", "hypothesis", "ruff", "nbclient", "nbformat", "ipykernel"],
        # an independent gradient oracle and the benchmark's comparison; never needed at run time
        # (safetensors: the tests load numpyvae's exports with safetensors.torch, as docs/pytorch.md does)
        "oracle": ["torch==2.13.0", "safetensors"],
        # benchmarks.step's JAX column (the CPU build from PyPI); never needed at run time
        "bench": ["jax"],
    },
)
