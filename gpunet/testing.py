"""Test helpers: finite-difference gradient checks (float64, random upstream gradient)."""
import numpy


def numeric_gradient(f, x, eps=1e-6):
    """Central differences of the scalar function ``f`` at the float64 array ``x`` (modified in place, restored)."""
    grad = numpy.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


def check_gradient(forward, backward, x, seed=0, rtol=1e-5, atol=1e-7, eps=1e-6):
    """Check ``backward(dy)`` against finite differences of ``sum(forward(x) * dy)``.

    ``forward(x)`` returns an array; ``backward(dy)`` returns d(sum(y*dy))/dx for the
    last forward call. ``dy`` is random (an all-ones gradient hides transposition bugs).
    Raises AssertionError with the worst mismatch.
    """
    rng = numpy.random.default_rng(seed)
    x = numpy.array(x, dtype=numpy.float64)
    y = numpy.asarray(forward(x))
    dy = rng.standard_normal(y.shape)
    forward(x)
    analytic = numpy.asarray(backward(dy))
    numeric = numeric_gradient(lambda: float(numpy.sum(numpy.asarray(forward(x)) * dy)), x, eps)
    numpy.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol)
    return analytic, numeric


def edit_saved_config(path, change):
    """Apply ``change(config)`` to the model config inside a saved ``.h5`` or ``.keras`` file, as an
    attacker crafting a file would (the HDF5 attribute checksum is dropped: crafted, not damaged)."""
    import json
    import zipfile

    import h5py

    from .saving import h5_store
    if str(path).endswith(".h5"):
        with h5py.File(path, "r+") as f:
            config = json.loads(h5_store.text(f.attrs["model_config"]))
            change(config)
            f.attrs["model_config"] = json.dumps(config)
            del f.attrs["gpunet_attr_crc"]
        return
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
