"""The seed workload's functional variant: the Pima network with a residual connection, 8-12-12-1,
the second hidden layer's output added to the first's before the output layer (Keras's ``Add``),
built as each framework builds a graph: gpunet's and Keras's functional API, a PyTorch module."""
import numpy

from .workloads import ADAM, RESIDUAL


def residual_model(framework, weights):
    """The residual network for ``framework`` (a peers.py adapter), with ``weights`` in Keras's order
    (the three Dense layers' kernels and biases), compiled with Adam as the adapters compile an MLP;
    trained by the adapter's ``fit``."""
    if framework.name.startswith("torch"):  # "torch" and "torch cuda"
        return _torch(framework, weights)
    if framework.name == "gpunet":
        with framework.B.use_backend(framework.backend):
            return _keras_like(framework.gpunet, weights)
    return _keras_like(framework.keras, weights)


def _keras_like(K, weights):
    inputs = K.Input(shape=(RESIDUAL.input_dim,))
    (u1, a1), (u2, a2), (u3, a3) = RESIDUAL.layers
    h1 = K.layers.Dense(u1, activation=a1)(inputs)
    h2 = K.layers.Dense(u2, activation=a2)(h1)
    model = K.Model(inputs, K.layers.Dense(u3, activation=a3)(K.layers.Add()([h1, h2])))
    model.compile(optimizer=K.optimizers.Adam(**ADAM), loss=RESIDUAL.loss)
    model.set_weights(weights)
    return model


def _torch(framework, weights):
    torch, nn = framework.torch, framework.torch.nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3 = nn.Linear(8, 12), nn.Linear(12, 12), nn.Linear(12, 1)

        def forward(self, x):
            h1 = torch.relu(self.l1(x))
            return self.l3(h1 + torch.relu(self.l2(h1)))  # logits: the sigmoid is in the loss, as for the MLP

    net = Residual()
    with torch.no_grad():
        for i, lin in enumerate((net.l1, net.l2, net.l3)):
            lin.weight.copy_(torch.from_numpy(numpy.ascontiguousarray(weights[2 * i].T)))
            lin.bias.copy_(torch.from_numpy(weights[2 * i + 1]))
    if framework.device is not None:  # (PyTorch on CUDA: the module moved before its optimizer is made)
        net.to(framework.device)
    opt = torch.optim.Adam(net.parameters(), lr=ADAM["learning_rate"], betas=(ADAM["beta_1"], ADAM["beta_2"]),
                           eps=ADAM["epsilon"])
    return {"net": net, "loss": nn.BCEWithLogitsLoss(), "opt": opt, "last_act": "sigmoid"}
