"""Manual check, tf.keras 2.21 side (see README.md): load gpunet .h5 files, compare iterations and slots, one more epoch."""
import os, sys, logging; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tf_keras as keras, tensorflow as tf
tf.get_logger().setLevel(logging.ERROR)
TO_GPUNET = {"rms": ["rms"], "mg": ["mg"], "accum_grad": ["accum_grad"], "accum_var": ["accum_var"], "m": ["m", "momentum"], "v": ["v"], "vhat": ["vhat"], "u": ["v"], "velocity": ["rms"], "momentum": ["momentum"],
             "average_gradient": ["mg"], "accumulator": ["accumulator"], "accumulated_grad": ["accum_grad"],
             "accumulated_delta_var": ["accum_var"]}
d = sys.argv[1]; e = np.load(f"{d}/g_expected.npz")
names = sorted({k.split("/")[0] for k in e.files if "/" in k})
for name in names:
    try:
        m = keras.models.load_model(f"{d}/g_{name}.h5")
    except Exception as ex:
        print(f"{name:18s} LOAD FAILED {type(ex).__name__}: {str(ex)[:200]}"); continue
    opt = m.optimizer
    it = int(opt.iterations.numpy())
    slots = {}
    legacy = not hasattr(opt, "_index_dict")
    for v in (opt.weights if legacy else list(opt.variables))[1:]:
        if v.shape == (): continue
        slots.setdefault(v.name.split(":")[0].split("/")[-1] if legacy else v.name.split("/")[1], []).append(v.numpy().ravel())
    sd = {}
    for s, parts in slots.items():
        keys = [f"{name}/slot/{g}" for g in TO_GPUNET[s] if f"{name}/slot/{g}" in e.files]
        sd[s] = float(np.abs(np.concatenate(parts) - e[keys[0]]).max()) if keys else ("zeros" if not np.concatenate(parts).any() else "??")
    lr = float(opt.learning_rate.numpy()) if hasattr(opt.learning_rate, "numpy") else -1
    m.fit(e["X"], e["Y"], epochs=1, batch_size=8, shuffle=False, verbose=0)
    after = np.concatenate([w.ravel() for w in m.get_weights()])
    diff = np.abs(after - e[f"{name}/after"]).max()
    print(f"{name:17s} {type(opt).__module__.replace('tf_keras.src.optimizers.',''):>26s} it {it}/{int(e[name+'/iterations'])} slots max|diff| {sd} lr {lr:.5f} | 1 more epoch max|diff| {diff:.1e}")
