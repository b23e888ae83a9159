// LayerNormalization inside the GPU step plan, with the activation folded after it (Keras's
// Dense(64), LayerNormalization(), Activation('relu')), as gpunet/layers/layer_normalization.py
// computes it over each of M rows of N features (training and inference alike):
//   mean = sum(x) / N;  var = sum((x - mean)^2) / N;  inv = 1 / sqrt(var + eps)
//   xhat = (x - mean) inv;  y = act(xhat gamma + beta)
// and its backward from dy (the gradient of the activated output), dz = dy act'(...):
//   ln_param_grads: dgamma = sum over the rows of dz xhat, dbeta = sum over the rows of dz
//   ln_backward:    dh = dz gamma;  dx = inv ((dh - sum(dh) / N) - xhat sum(dh xhat) / N)
// gamma, beta (and dgamma, dbeta) null: scale=False, center=False; xhat, inv null (ln_forward in
// inference): not kept. Sums run in a fixed order (no atomics): a run repeats bit for bit.
// Launch: ln_forward, ln_backward: block (32, 8), a row per threadIdx.y (row_reduce's layout), grid
// min(ceil(M / 8), 8 SMs), grid-stride over groups of 8 rows; ln_param_grads: bn_backward's
// column layout, block (32, R), grid ceil(N / 32). ln_param_grads reads dy before ln_backward
// writes dx (dx may be dy).

template <typename T>
__global__ void ln_forward(const T* x, T* y, T* xhat, T* inv, const T* __restrict__ gamma, const T* __restrict__ beta,
                           T* z, unsigned char* mask, int M, int N, T eps, int act, T alpha, T max_value,
                           T threshold, int flags) {
    __shared__ T red[8][33];
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    for (long long r0 = (long long)blockIdx.x * 8; r0 < M; r0 += (long long)gridDim.x * 8) {
        const long long r = r0 + threadIdx.y;
        const bool live = r < M;
        const T* xr = x + r * N;
        T s = T(0);
        if (live)
            for (int c = threadIdx.x; c < N; c += 32) s += xr[c];
        const T mean = row_reduce<T, false>(red, s) / T(N);
        s = T(0);
        if (live)
            for (int c = threadIdx.x; c < N; c += 32) {
                const T d = xr[c] - mean;
                s += d * d;
            }
        const T iv = T(1) / gn_sqrt(row_reduce<T, false>(red, s) / T(N) + eps);
        if (!live) continue;
        if (inv && threadIdx.x == 0) inv[r] = iv;
        for (int c = threadIdx.x; c < N; c += 32) {
            const long long o = r * N + c;
            const T h = (xr[c] - mean) * iv;
            if (xhat) xhat[o] = h;
            T v = gamma ? h * gamma[c] : h;
            if (beta) v += beta[c];
            if (z) z[o] = v;
            unsigned char k = 0;
            y[o] = act_forward(p, v, &k);  // (y may be x: this thread read x[o] above)
            if (mask) mask[o] = k;
        }
    }
}

template <typename T>
__global__ void ln_param_grads(const T* __restrict__ dy, const T* __restrict__ xhat, T* __restrict__ dgamma,
                               T* __restrict__ dbeta, const T* __restrict__ z, const T* __restrict__ y,
                               const unsigned char* __restrict__ mask, int M, int N, int act, T alpha, T max_value,
                               T threshold, int flags) {
    __shared__ T part[32][33];
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const int n = blockIdx.x * 32 + threadIdx.x;
    const bool live = n < N;
    T s_dz = T(0), s_dzx = T(0);
    if (live)
        for (long long m = threadIdx.y; m < M; m += blockDim.y) {
            const long long o = m * N + n;
            const T d = act_backward(p, dy[o], z, y, mask, o);
            s_dz += d;
            s_dzx += d * xhat[o];
        }
    s_dz = gn_column_total(part, s_dz);
    s_dzx = gn_column_total(part, s_dzx);
    if (live && threadIdx.y == 0) {
        if (dgamma) dgamma[n] = s_dzx;
        if (dbeta) dbeta[n] = s_dz;
    }
}

template <typename T>
__global__ void ln_backward(const T* dy, const T* __restrict__ xhat, const T* __restrict__ inv,
                            const T* __restrict__ gamma, T* dx, const T* __restrict__ z, const T* __restrict__ y,
                            const unsigned char* __restrict__ mask, int M, int N, int act, T alpha, T max_value,
                            T threshold, int flags) {
    __shared__ T red[8][33];
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    for (long long r0 = (long long)blockIdx.x * 8; r0 < M; r0 += (long long)gridDim.x * 8) {
        const long long r = r0 + threadIdx.y;
        const bool live = r < M;
        T s_dh = T(0), s_dhx = T(0);
        if (live)
            for (int c = threadIdx.x; c < N; c += 32) {
                const long long o = r * N + c;
                const T d = act_backward(p, dy[o], z, y, mask, o);
                const T dh = gamma ? d * gamma[c] : d;
                s_dh += dh;
                s_dhx += dh * xhat[o];
            }
        const T mean_dh = row_reduce<T, false>(red, s_dh) / T(N);
        const T mean_dhx = row_reduce<T, false>(red, s_dhx) / T(N);
        if (!live) continue;
        const T iv = inv[r];
        for (int c = threadIdx.x; c < N; c += 32) {
            const long long o = r * N + c;
            const T d = act_backward(p, dy[o], z, y, mask, o);
            const T dh = gamma ? d * gamma[c] : d;
            dx[o] = iv * ((dh - mean_dh) - xhat[o] * mean_dhx);  // (dx may be dy: this thread read dy[o] above)
        }
    }
}
