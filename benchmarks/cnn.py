"""The image workload: Keras's MNIST CNN (Conv2D 32 3x3 relu, Conv2D 64 3x3 relu, MaxPooling2D 2x2,
Flatten, Dense 128 relu, Dense 10 softmax) on 28 x 28 x 1 images, categorical cross-entropy, Adam, batch 128,
built as each framework builds it: the Keras API (channels last), a PyTorch module (channels first, its
idiomatic layout: the images are transposed once, outside the timed region). Each framework starts from its
own initial weights: the suite times training, it does not compare values (the tests do)."""
import numpy

from .workloads import ADAM, model_for

CNN_NAME = "mnist cnn 28x28x1 conv32-conv64-pool-128-10"


def cnn_model(framework):
    """The network for ``framework`` (a peers.py adapter), compiled with Adam; trained by its ``fit``."""
    return model_for(framework, _keras_like, _torch)


def cnn_inputs(framework, x):
    """``x`` (channels last) as ``framework``'s model takes it."""
    return numpy.ascontiguousarray(x.transpose(0, 3, 1, 2)) if framework.name.startswith("torch") else x


def images(rows, seed=3):
    """``rows`` MNIST-shaped images in [0, 1) and one-hot labels over 10 classes."""
    rng = numpy.random.default_rng(seed)
    x = rng.random((rows, 28, 28, 1), dtype=numpy.float32)
    y = numpy.zeros((rows, 10), numpy.float32)
    y[numpy.arange(rows), rng.integers(0, 10, rows)] = 1.0
    return x, y


def _keras_like(K):
    L = K.layers
    model = K.Sequential([K.Input(shape=(28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"),
                          L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Flatten(),
                          L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])
    model.compile(optimizer=K.optimizers.Adam(**ADAM), loss="categorical_crossentropy")
    return model


def _torch(framework):
    torch, nn = framework.torch, framework.torch.nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10))
    if framework.device is not None:
        net.to(framework.device)
    opt = torch.optim.Adam(net.parameters(), lr=ADAM["learning_rate"], betas=(ADAM["beta_1"], ADAM["beta_2"]),
                           eps=ADAM["epsilon"])
    return {"net": net, "loss": nn.CrossEntropyLoss(), "opt": opt, "last_act": "softmax"}
