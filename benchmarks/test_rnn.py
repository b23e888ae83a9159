"""Suite 7, the recurrent workload: an IMDB-sized LSTM (rnn.py), Adam, batch 32, one shuffled epoch of
``rnn_samples`` per call: samples/s, gpunet against PyTorch, Keras 3 and tf.keras on the same machine."""
from .rnn import RNN_NAME, rnn_model, sequences


def test_rnn(benchmark, framework, sizes, run_bench):
    x, y = sequences(sizes.rnn_samples)
    model = rnn_model(framework)
    run_bench(benchmark, lambda: framework.fit(model, x, y, 1, 32),
              suite="rnn", case=RNN_NAME, framework=framework.name, unit="samples/s", work=x.shape[0],
              rounds=sizes.rnn_rounds)
