"""Manual check, gpunet side (see README.md): train each optimizer, save .h5, record state and one-more-epoch weights."""
import sys, numpy as np, gpunet
from gpunet.models import Sequential
from gpunet.layers import Dense, BatchNormalization
O = gpunet.optimizers
CASES = {
    "sgd": lambda: O.SGD(0.05), "sgd-momentum": lambda: O.SGD(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: O.Adam(0.01), "adam-amsgrad": lambda: O.Adam(0.01, amsgrad=True),
    "rmsprop": lambda: O.RMSprop(0.01), "rmsprop-centered": lambda: O.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: O.Adagrad(0.05), "adadelta": lambda: O.Adadelta(0.5), "adamax": lambda: O.Adamax(0.01),
    "nadam": lambda: O.Nadam(0.01), "adamw": lambda: O.AdamW(0.01, weight_decay=0.01),
    "adam-schedule": lambda: O.Adam(O.schedules.ExponentialDecay(0.02, 3, 0.5)),
}
X = np.random.RandomState(0).rand(24, 5).astype("float32"); Y = np.random.RandomState(1).rand(24, 2).astype("float32")
out = sys.argv[1]
res = {"X": X, "Y": Y}
for name, f in CASES.items():
    m = Sequential([Dense(4, input_dim=5, activation="tanh"), BatchNormalization(), Dense(2)])
    m.compile(loss="mse", optimizer=f())
    m.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    m.save(f"{out}/g_{name}.h5")
    st = m.optimizer.get_state()
    res[f"{name}/iterations"] = np.array(st["iterations"])
    for s, buf in st["slots"].items():
        res[f"{name}/slot/{s}"] = np.asarray(buf)
    res[f"{name}/before"] = np.concatenate([w.ravel() for w in m.get_weights()])
    m.fit(X, Y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    res[f"{name}/after"] = np.concatenate([w.ravel() for w in m.get_weights()])
np.savez(f"{out}/g_expected.npz", **res)
