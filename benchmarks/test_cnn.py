"""Suite 6, the image workload: Keras's MNIST CNN (cnn.py), Adam, batch 128, one shuffled epoch of
``cnn_samples`` per call: samples/s, gpunet against PyTorch, Keras 3 and tf.keras on the same machine."""
from .cnn import CNN_NAME, cnn_inputs, cnn_model, images


def test_cnn(benchmark, framework, sizes, run_bench):
    x, y = images(sizes.cnn_samples)
    model = cnn_model(framework)
    x = cnn_inputs(framework, x)
    run_bench(benchmark, lambda: framework.fit(model, x, y, 1, 128),
              suite="cnn", case=CNN_NAME, framework=framework.name, unit="samples/s", work=x.shape[0],
              rounds=sizes.cnn_rounds)
