"""The recurrent workload: an IMDB-sized sentiment model (Embedding 2000 x 64, LSTM 64, Dense 1 sigmoid) on
sequences of 80 tokens, binary cross-entropy, Adam, batch 32, built as each framework builds it: the Keras API,
a PyTorch module (nn.Embedding, nn.LSTM with batch_first, nn.Linear; the sigmoid in the loss, as PyTorch users
write it). Each framework starts from its own initial weights: the suite times training, the tests compare
values (tests/test_recurrent_sequences.py)."""
import numpy

from .workloads import ADAM, model_for

RNN_NAME = "imdb-sized lstm 80 steps emb64-lstm64-1"
VOCAB, STEPS, WIDTH = 2000, 80, 64


def rnn_model(framework):
    """The network for ``framework`` (a peers.py adapter), compiled with Adam; trained by its ``fit``."""
    return model_for(framework, _keras_like, _torch)


def sequences(rows, seed=5):
    """``rows`` sequences of token ids (int64, as a tokenizer gives them) and 0/1 labels (float32, ``(rows, 1)``)."""
    rng = numpy.random.default_rng(seed)
    return rng.integers(1, VOCAB, (rows, STEPS)), rng.integers(0, 2, (rows, 1)).astype(numpy.float32)


def _keras_like(K):
    L = K.layers
    model = K.Sequential([K.Input(shape=(STEPS,)), L.Embedding(VOCAB, WIDTH), L.LSTM(WIDTH),
                          L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=K.optimizers.Adam(**ADAM), loss="binary_crossentropy")
    return model


def _torch(framework):
    torch, nn = framework.torch, framework.torch.nn

    class Sentiment(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.lstm, self.out = nn.Embedding(VOCAB, WIDTH), nn.LSTM(WIDTH, WIDTH, batch_first=True), \
                nn.Linear(WIDTH, 1)

        def forward(self, x):
            _, (h, _) = self.lstm(self.emb(x))
            return self.out(h[-1])

    net = Sentiment()
    if framework.device is not None:
        net.to(framework.device)
    opt = torch.optim.Adam(net.parameters(), lr=ADAM["learning_rate"], betas=(ADAM["beta_1"], ADAM["beta_2"]),
                           eps=ADAM["epsilon"])
    return {"net": net, "loss": nn.BCEWithLogitsLoss(), "opt": opt, "last_act": "sigmoid"}
