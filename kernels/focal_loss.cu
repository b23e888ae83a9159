// Keras's binary focal cross-entropy (gpunet/losses/focal.py: tf.keras 2.21's arithmetic), per element
// of an output the Dense layer already activated (logits 0: probabilities p) or of logits (logits 1:
// p = sigmoid(z)): with p_t = y p + (1 - y)(1 - p), miss = 1 - p_t, focal = miss^gamma,
//   probabilities: bce = -(y log(clip(p) + eps) + (1 - y) log((1 - clip(p)) + eps)),
//                  dbce = ((1 - y) / ((1 - clip(p)) + eps) - y / (clip(p) + eps)), 0 where the clip holds
//   logits:        bce = max(z, 0) - z y + log1p(exp(-|z|)),  dbce = p - y
//   grad = focal dbce + [gamma != 0] miss^(gamma - 1) (gamma (1 - 2y)) bce (times p (1 - p) from
//   logits, and 0 where miss = 0), times the class weight (balanced: alpha where y = 1, 1 - alpha
//   where y = 0), times inv_n = 1 / N, then times sw[r] scale as loss_grad's (the host rounds
//   gamma - 1 and 1 / N as the reference does). The model's outputs into out as
//   loss_grad writes them; advances state[0]. Launch: block 256, 1-D grid-stride grid over M N.
template <typename T>
__global__ void focal_loss_grad(const T* z, const T* __restrict__ y, const T* __restrict__ sw, T* __restrict__ out,
                                T* dz, long long* state, int M, int N, long long stride, T eps, T scale, T gamma,
                                T gamma_minus_one, T alpha, T inv_n, int balanced, int logits) {
    const long long cur = state[1];
    if (blockIdx.x == 0 && threadIdx.x == 0) state[0] = cur + 1;
    const long long total = (long long)M * N, step = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
        const long long r = i / N;
        const T zi = z[i], yi = y[i], not_y = T(1) - yi;
        out[cur * stride * N + i] = zi;
        const T s = logits ? T(1) / (T(1) + gn_exp(-zi)) : zi;
        const T miss = T(1) - (yi * s + not_y * (T(1) - s));
        const T focal = gn_pow(miss, gamma);
        T bce, dbce;
        if (logits) {
            bce = gn_max(zi, T(0)) - zi * yi + gn_log1p(gn_exp(-gn_abs(zi)));
            dbce = s - yi;
        } else {
            const T c = gn_min(gn_max(zi, eps), T(1) - eps);
            bce = -(yi * gn_log(c + eps) + not_y * gn_log((T(1) - c) + eps));
            dbce = not_y / ((T(1) - c) + eps) - yi / (c + eps);
            if (!(zi >= eps && zi <= T(1) - eps)) dbce = dbce * T(0);  // (NaN stays NaN, as the reference's mask)
        }
        T g = focal * dbce;
        if (gamma != T(0)) {
            T dfocal = gn_pow(miss, gamma_minus_one) * (gamma * (T(1) - T(2) * yi));
            if (logits) {
                dfocal = dfocal * (s * (T(1) - s));
                if (!(miss > T(0))) dfocal = T(0);
            }
            g += dfocal * bce;
        }
        if (balanced) g = g * (yi * alpha + not_y * (T(1) - alpha));
        g = g * inv_n;
        dz[i] = g * (sw ? sw[r] * scale : scale);
    }
}
