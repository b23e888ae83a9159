"""Manual check, gpunet side (see README.md): train each optimizer, save .h5, record state and one-more-epoch weights."""
import sys, numpy as np, gpunet
from gpunet.models import Sequential
from gpunet.layers import Dense, BatchNormalization
from cases import X, Y, optimizers  # (this folder: the script runs from here)
O = gpunet.optimizers
CASES = optimizers(O)
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
