"""Suite 1b, a training loop of your own (Keras's guide "Writing a training loop from scratch") on the seed
workload: the Pima MLP 8-12-8-1, binary cross-entropy, Adam, batch 10, shuffled, the loss read every step;
gpunet with `gpunet.GradientTape`, tf-keras with tf.GradientTape in a tf.function, PyTorch in its idiomatic
loop (which is its fit's): us/step."""
import pytest

from .workloads import PIMA, initial_weights, pima_data


def test_own_training_loop(benchmark, framework, sizes, run_bench):
    if not hasattr(framework, "own_loop"):
        pytest.skip(f"{framework.name}: a loop of your own is its backend's (torch's), measured as torch")
    model = framework.mlp(PIMA, initial_weights(PIMA))
    x, y = pima_data(sizes.seed_rows)
    batch = 10
    framework.own_loop(model, x[:batch * 2 + 3], y[:batch * 2 + 3], 1, batch)  # (traces, builds: not timed)
    steps = sizes.seed_epochs * ((x.shape[0] + batch - 1) // batch)
    run_bench(benchmark, lambda: framework.own_loop(model, x, y, sizes.seed_epochs, batch),
              suite="own loop", case=PIMA.name, framework=framework.name, unit="us/step", work=steps,
              rounds=sizes.seed_rounds)
