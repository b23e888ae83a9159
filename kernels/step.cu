// The kernels of a training step that are neither a Dense layer nor the optimizer
// (gpunet/backend/gpu_plan.py): the batch's rows in, dropout, and weight regularization
// (the loss's gradient is loss.cu's).
//
// A captured step (a CUDA graph) replays the same launches with the same arguments
// every time, so nothing that changes from step to step may be an argument. The
// batch's position lives in device memory instead, `state` (two int64):
//   state[0]  the next batch to train, set by the host at the start of an epoch;
//   state[1]  the batch being trained, copied from state[0] by batch_gather.
// batch_gather reads state[0] and writes state[1]; loss_grad reads state[1] and
// advances state[0]. No launch both reads and writes one word, so no block of a
// launch can see another block's write: no atomics, no fences.

// xb[r, :] = x[xrow(r), :], yb[r, :] = y[row(r), :], swb[r] = sw[row(r)] for the batch's rows
// r < rows, row(r) = order[b * stride + r] (order null: b * stride + r), b = state[0]; xrow(r) is
// row(r) with x_stride for stride (x_stride 0: x holds just this batch, streamed in by the host).
// x, y, sw and order are read from sources[0..3] (addresses; 0 for null) in device memory, not
// passed as arguments: a captured graph then serves every epoch's data, wherever it lies.
// Launch: block 256, 1-D grid-stride grid.
template <typename T>
__global__ void batch_gather(const unsigned long long* __restrict__ sources, T* __restrict__ xb,
                             T* __restrict__ yb, T* __restrict__ swb, long long* state, int rows, long long stride,
                             long long x_stride, int kx, int ky) {
    const T* __restrict__ x = reinterpret_cast<const T*>(sources[0]);
    const T* __restrict__ y = reinterpret_cast<const T*>(sources[1]);
    const T* __restrict__ sw = reinterpret_cast<const T*>(sources[2]);
    const long long* __restrict__ order = reinterpret_cast<const long long*>(sources[3]);
    const long long b = state[0];
    if (blockIdx.x == 0 && threadIdx.x == 0) state[1] = b;
    const long long first = b * stride, x_first = b * x_stride;
    const long long step = (long long)gridDim.x * blockDim.x;
    const long long start = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    for (long long i = start; i < (long long)rows * kx; i += step) {
        const long long r = i / kx, c = i - r * kx;
        const long long src = order ? order[x_first + r] : x_first + r;
        xb[i] = x[src * kx + c];
    }
    for (long long i = start; i < (long long)rows * ky; i += step) {
        const long long r = i / ky, c = i - r * ky;
        const long long src = order ? order[first + r] : first + r;
        yb[i] = y[src * ky + c];
    }
    if (sw)
        for (long long i = start; i < rows; i += step) swb[i] = sw[order ? order[first + i] : first + i];
}

// Dropout inside a step: keep each value with probability 1 - rate, scaled by 1 / (1 - rate)
// (Keras's inverted dropout; `scale` is that factor as the reference rounds it). The draw is a
// counter-based hash of (state[2], the epoch's seed; salt, the layer; state[1], the batch;
// the element's index): the same launch replayed draws a fresh mask for every batch, and a
// seeded run draws the same masks again. m keeps the factor applied (0 or scale) for backward.
__device__ __forceinline__ unsigned long long gn_splitmix(unsigned long long h) {
    h += 0x9E3779B97F4A7C15ULL;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

// The draw's key for one layer's mask of one batch, and whether element i is kept: shared with
// mlp_step.cu's one-block step, so both forms of a step draw the same masks.
__device__ __forceinline__ unsigned long long gn_dropout_key(long long seed, long long salt, long long batch) {
    return gn_splitmix(gn_splitmix((unsigned long long)seed ^ gn_splitmix((unsigned long long)salt)) ^
                       (unsigned long long)batch);
}

__device__ __forceinline__ bool gn_dropout_keep(unsigned long long key, long long i, double rate) {
    const double u = (double)(gn_splitmix(key ^ (unsigned long long)i) >> 11) * (1.0 / 9007199254740992.0);
    return u >= rate;
}

// y = x * m, m[i] = (u_i >= rate) ? scale : 0, u_i uniform in [0, 1) from the hash above.
// Launch (both dropout kernels): block 256, 1-D grid-stride grid.
template <typename T>
__global__ void dropout_forward(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ m, long long n,
                                double rate, T scale, const long long* state, long long salt) {
    const unsigned long long key = gn_dropout_key(state[2], salt, state[1]);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T mi = gn_dropout_keep(key, i, rate) ? scale : T(0);
        m[i] = mi;
        y[i] = x[i] * mi;
    }
}

// GaussianNoise, GaussianDropout and AlphaDropout inside a step: z_i a standard normal draw (Box-Muller
// over two draws of the hash above, keyed as dropout's: fresh for every batch and layer, the same again
// for a seeded run). mode 0 (GaussianNoise): y = x + value z, its gradient passes unchanged; 1
// (GaussianDropout): m = 1 + value z, y = x m, m kept for the backward (dropout_backward); 2
// (AlphaDropout, value its rate): k_i = dropout's keep flag, y = a (x k + alpha_p (1 - k)) + b in
// tf.keras's order of operations, m = a k kept for the backward (a, b, alpha_p: SELU's constants).
__device__ __forceinline__ double gn_normal(unsigned long long key, long long i) {
    const double u1 = ((double)(gn_splitmix(key ^ (unsigned long long)(2 * i)) >> 11) + 1.0) *
                      (1.0 / 9007199254740992.0);  // (0, 1]: its log is finite
    const double u2 = (double)(gn_splitmix(key ^ (unsigned long long)(2 * i + 1)) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

template <typename T>
__global__ void noise_forward(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ m, long long n, double value,
                              int mode, const long long* state, long long salt) {
    const unsigned long long key = gn_dropout_key(state[2], salt, state[1]);
    const long long stride = (long long)gridDim.x * blockDim.x;
    const double alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946;
    const double a = mode == 2 ? pow((1.0 - value) * (1.0 + value * alpha_p * alpha_p), -0.5) : 0.0;
    const T ta = T(a), tb = T(-a * alpha_p * value), tp = T(alpha_p);
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        if (mode == 2) {
            const T k = gn_dropout_keep(key, i, value) ? T(1) : T(0);
            m[i] = k * ta;
            y[i] = ta * (x[i] * k + tp * (T(1) - k)) + tb;
            continue;
        }
        const T z = T(value * gn_normal(key, i));
        if (mode == 1) {
            const T mi = T(1) + z;
            m[i] = mi;
            y[i] = x[i] * mi;
        } else {
            y[i] = x[i] + z;
        }
    }
}

// g *= m in place: the gradient through the dropout of the forward pass.
template <typename T>
__global__ void dropout_backward(T* g, const T* __restrict__ m, long long n) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) g[i] *= m[i];
}

// A weight's L1 / L2 regularization inside a step (Keras's kernel_regularizer and
// bias_regularizer, L1L2 and its L1 and L2 forms): its gradient added to the weight's
// gradient, g += l1 sign(w), then g += 2 l2 w (as gpunet/regularizers.py adds them), and its
// penalty, l1 |w| + l2 w^2, summed per block into partial[state[1] * row_stride + col + block]:
// the step's row, summed across in a fixed order when the epoch is tallied (no atomics, so a
// run repeats bit for bit). Launch: block 256, 1-D grid-stride grid.
// One element's share (shared with mlp_step.cu): its gradient term added to g[i], its penalty returned.
template <typename T>
__device__ __forceinline__ T gn_reg_element(const T* __restrict__ w, T* g, long long i, T l1, T l2) {
    const T v = w[i];
    T gi = g[i];
    if (l1 != T(0)) gi += l1 * (v > T(0) ? T(1) : (v < T(0) ? T(-1) : v * T(0)));  // v * 0: NaN stays NaN
    if (l2 != T(0)) gi += (T(2) * l2) * v;
    g[i] = gi;
    return l1 * gn_abs(v) + l2 * (v * v);
}

// A block's 256 values red[tid] summed in a fixed tree order into red[0] (every thread returns
// after the last barrier).
template <typename T>
__device__ __forceinline__ void gn_block_sum_256(T* red, int tid) {
    __syncthreads();
    for (int half = 128; half > 0; half >>= 1) {
        if (tid < half) red[tid] += red[tid + half];
        __syncthreads();
    }
}

template <typename T>
__global__ void reg_grad(const T* __restrict__ w, T* g, long long n, T l1, T l2, T* partial, const long long* state,
                         long long row_stride, long long col) {
    __shared__ T red[256];
    T acc = T(0);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        acc += gn_reg_element(w, g, i, l1, l2);
    red[threadIdx.x] = acc;
    gn_block_sum_256(red, (int)threadIdx.x);
    if (threadIdx.x == 0) partial[state[1] * row_stride + col + blockIdx.x] = red[0];
}
