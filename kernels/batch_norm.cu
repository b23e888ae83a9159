// BatchNormalization (training mode) inside the GPU step plan, with the activation that follows it
// (Keras's Dense(64), BatchNormalization(), Activation('relu')), as gpunet/layers/normalization.py
// computes it over a batch of M rows of N features:
//   mean = sum(x) / M;  var = sum((x - mean)^2) / M;  inv = 1 / sqrt(var + eps)
//   xhat = (x - mean) inv;  y = act(xhat gamma + beta)
//   moving_mean = moving_mean momentum + (1 - momentum) mean (moving_variance likewise, with var)
// and its backward from dy (the gradient of the activated output), dz = dy act'(...):
//   dgamma = sum(dz xhat);  dbeta = sum(dz);  dxhat = dz gamma
//   dx = inv ((dxhat - sum(dxhat) / M) - xhat sum(dxhat xhat) / M)
// gamma, beta (and dgamma, dbeta) null: scale=False, center=False. Column sums run in a fixed
// order (no atomics): a run repeats bit for bit.
// Launch (both): block (32, R), R = 8 or, for tall batches, 32 (more loads in flight per
// column); grid (ceil(N / 32)). Block bx owns columns 32 bx + tx (a warp reads 32 consecutive
// values of a row) and every row, thread row ty taking rows ty, ty + R, ...

// The column's total of the block's R row partials, in row order; every thread gets it.
template <typename T>
__device__ __forceinline__ T gn_column_total(T (*part)[33], T partial) {
    part[threadIdx.y][threadIdx.x] = partial;
    __syncthreads();
    T total = part[0][threadIdx.x];
    for (int r = 1; r < (int)blockDim.y; ++r) total += part[r][threadIdx.x];
    __syncthreads();  // part is reused by the next total
    return total;
}

// Column n's batch mean and biased variance over the M rows of x (M, N), thread row ty summing
// rows ty, ty + blockDim.y, ...: every thread of the block calls it (live: n is a real column).
// bn_forward's and mlp_step's, so the one-launch step sums as the multi-launch one does.
template <typename T>
__device__ __forceinline__ void gn_bn_stats(T (*part)[33], const T* x, int M, int N, int n, bool live, T* mean,
                                            T* var) {
    T s = T(0);
    if (live)
        for (long long m = threadIdx.y; m < M; m += blockDim.y) s += x[m * N + n];
    const T mu = gn_column_total(part, s) / T(M);
    s = T(0);
    if (live)
        for (long long m = threadIdx.y; m < M; m += blockDim.y) {
            const T c = x[m * N + n] - mu;
            s += c * c;
        }
    *mean = mu;
    *var = gn_column_total(part, s) / T(M);
}

// Column n normalized, scaled, shifted and activated into y, keeping xhat, inv and what the
// activation's backward reads (z, mask: null where it reads neither); thread row 0 keeps inv and
// moves the moving statistics. No barrier: live threads only.
template <typename T>
__device__ __forceinline__ void gn_bn_normalize(const ActParams<T>& p, const T* x, T* y, T* xhat, T* inv,
                                                const T* gamma, const T* beta, T* moving_mean, T* moving_var, T* z,
                                                unsigned char* mask, int M, int N, int n, T mean, T var, T momentum,
                                                T one_minus_momentum, T eps) {
    const T iv = T(1) / gn_sqrt(var + eps);
    if (threadIdx.y == 0) {
        inv[n] = iv;
        moving_mean[n] = moving_mean[n] * momentum + one_minus_momentum * mean;
        moving_var[n] = moving_var[n] * momentum + one_minus_momentum * var;
    }
    for (long long m = threadIdx.y; m < M; m += blockDim.y) {
        const long long o = m * N + n;
        const T h = (x[o] - mean) * iv;
        xhat[o] = h;
        T v = gamma ? h * gamma[n] : h;
        if (beta) v += beta[n];
        if (z) z[o] = v;
        unsigned char k = 0;
        y[o] = act_forward(p, v, &k);
        if (mask) mask[o] = k;
    }
}

// bn_backward's four column sums of column n: dz, dz xhat, dxhat, dxhat xhat.
template <typename T>
struct GnBnSums {
    T dz, dzx, dh, dhx;
};

// Column n's sums from dy through the activation (z, y, mask: what its backward reads); every
// thread of the block calls it.
template <typename T>
__device__ __forceinline__ GnBnSums<T> gn_bn_sums(T (*part)[33], const ActParams<T>& p, const T* dy, const T* xhat,
                                                  const T* gamma, const T* z, const T* y, const unsigned char* mask,
                                                  int M, int N, int n, bool live) {
    const T g = gamma && live ? gamma[n] : T(1);
    T s_dz = T(0), s_dzx = T(0), s_dh = T(0), s_dhx = T(0);
    if (live)
        for (long long m = threadIdx.y; m < M; m += blockDim.y) {
            const long long o = m * N + n;
            const T d = act_backward(p, dy[o], z, y, mask, o), h = xhat[o];
            const T dh = gamma ? d * g : d;
            s_dz += d;
            s_dzx += d * h;
            s_dh += dh;
            s_dhx += dh * h;
        }
    s_dz = gn_column_total(part, s_dz);
    s_dzx = gn_column_total(part, s_dzx);
    s_dh = gn_column_total(part, s_dh);
    s_dhx = gn_column_total(part, s_dhx);
    return {s_dz, s_dzx, s_dh, s_dhx};
}

// dgamma, dbeta (thread row 0; null: none) and, unless dx is null, dx of column n from its sums.
// dx may be dy: each element is read, then written, by one thread. No barrier: live threads only.
template <typename T>
__device__ __forceinline__ void gn_bn_input_grad(const ActParams<T>& p, const GnBnSums<T>& s, const T* dy,
                                                 const T* xhat, T iv, const T* gamma, T* dgamma, T* dbeta, T* dx,
                                                 const T* z, const T* y, const unsigned char* mask, int M, int N,
                                                 int n) {
    if (threadIdx.y == 0) {
        if (dgamma) dgamma[n] = s.dzx;
        if (dbeta) dbeta[n] = s.dz;
    }
    if (!dx) return;
    const T g = gamma ? gamma[n] : T(1);
    const T mean_dh = s.dh / T(M), mean_dhx = s.dhx / T(M);
    for (long long m = threadIdx.y; m < M; m += blockDim.y) {
        const long long o = m * N + n;
        const T d = act_backward(p, dy[o], z, y, mask, o), h = xhat[o];
        const T dh = gamma ? d * g : d;
        dx[o] = iv * ((dh - mean_dh) - h * mean_dhx);
    }
}

template <typename T>
__global__ void bn_forward(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ xhat, T* __restrict__ inv,
                           const T* __restrict__ gamma, const T* __restrict__ beta, T* moving_mean, T* moving_var,
                           T* __restrict__ z, unsigned char* __restrict__ mask, int M, int N, T momentum,
                           T one_minus_momentum, T eps, int act, T alpha, T max_value, T threshold, int flags) {
    __shared__ T part[32][33];
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const int n = blockIdx.x * 32 + threadIdx.x;
    const bool live = n < N;
    T mean, var;
    gn_bn_stats(part, x, M, N, n, live, &mean, &var);
    if (live)
        gn_bn_normalize(p, x, y, xhat, inv, gamma, beta, moving_mean, moving_var, z, mask, M, N, n, mean, var,
                        momentum, one_minus_momentum, eps);
}

template <typename T>
__global__ void bn_backward(const T* __restrict__ dy, const T* __restrict__ xhat, const T* __restrict__ inv,
                            const T* __restrict__ gamma, T* __restrict__ dgamma, T* __restrict__ dbeta,
                            T* __restrict__ dx, const T* __restrict__ z, const T* __restrict__ y,
                            const unsigned char* __restrict__ mask, int M, int N, int act, T alpha, T max_value,
                            T threshold, int flags) {
    __shared__ T part[32][33];
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const int n = blockIdx.x * 32 + threadIdx.x;
    const bool live = n < N;
    const GnBnSums<T> s = gn_bn_sums(part, p, dy, xhat, gamma, z, y, mask, M, N, n, live);
    if (live) gn_bn_input_grad(p, s, dy, xhat, inv[n], gamma, dgamma, dbeta, dx, z, y, mask, M, N, n);
}

// Inference (predict, evaluate; and a frozen layer): the moving statistics instead of the batch's,
// y = act(((x - moving_mean) inv) gamma + beta), inv = 1 / sqrt(moving_var + eps), as the layer
// computes it outside training. y may be x. Launch: block 256, 1-D grid-stride grid over M N.
template <typename T>
__global__ void bn_inference(const T* x, T* y, const T* __restrict__ gamma, const T* __restrict__ beta,
                             const T* __restrict__ moving_mean, const T* __restrict__ moving_var, long long total,
                             int N, T eps, int act, T alpha, T max_value, T threshold, int flags) {
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += stride) {
        const int n = (int)(o % N);
        const T h = (x[o] - moving_mean[n]) * (T(1) / gn_sqrt(moving_var[n] + eps));
        T v = gamma ? h * gamma[n] : h;
        if (beta) v += beta[n];
        unsigned char k = 0;
        y[o] = act_forward(p, v, &k);
    }
}
