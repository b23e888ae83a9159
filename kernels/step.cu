// The kernels of a training step that are neither a Dense layer nor the optimizer
// (gpunet/backend/gpu_plan.py): the batch's rows in, the loss's gradient out, dropout,
// and weight regularization.
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

// Loss kinds: the output's activation fused with the loss ("_SOFTMAX", "_SIGMOID": z is
// the last Dense layer's linear output, dz the gradient with respect to it), the loss of
// an output the Dense layer already activated (dz with respect to p), and the
// from_logits losses (z holds logits, which are also the model's outputs).
enum LossKind {
    GN_BCE_SIGMOID = 0, GN_CCE_SOFTMAX = 1, GN_SCCE_SOFTMAX = 2, GN_BCE = 3, GN_CCE = 4, GN_SCCE = 5,
    GN_MSE = 6, GN_MAE = 7, GN_BCE_LOGITS = 8, GN_CCE_LOGITS = 9, GN_SCCE_LOGITS = 10, GN_HUBER = 11,
    GN_LOG_COSH = 12, GN_MAPE = 13, GN_MSLE = 14, GN_KLD = 15, GN_POISSON = 16
};

template <typename T>
__device__ __forceinline__ T gn_sigmoid_clamped(T z, T exp_max) {
    return T(1) / (T(1) + gn_exp(gn_min(-z, exp_max)));  // -z clamped: exp never overflows
}

template <typename T>
__device__ __forceinline__ T gn_label(const T* yr, int c, int kind, bool sparse) {
    return sparse ? T((long long)yr[0] == c ? 1 : 0) : yr[c];
}

// For each row r < M of the batch (being batch state[1], stride rows apart in the epoch):
// the model's output p into out[(state[1] * stride + r), :], and into dz the gradient of
// Keras's loss (sum over the batch / M, times sw[r]) with respect to z; kinds as above,
// the gradients exactly those of gpunet/losses (clipping to [eps, 1 - eps] included).
// y is (M, N), or (M, 1) class indices for the sparse kinds. Advances state[0].
// Launch: block (32, 8), a row per threadIdx.y; grid min(ceil(M / 8), 8 SMs), grid-stride.
template <typename T>
__device__ void loss_rows(T (&red)[8][33], int kind, const T* z, const T* y, const T* sw, T* out, T* dz,
                          long long cur, int M, int N, long long stride, T eps, T scale, T exp_max, T delta,
                          long long first_row, long long row_step);

template <typename T>
__global__ void loss_grad(int kind, const T* z, const T* __restrict__ y, const T* __restrict__ sw,
                          T* __restrict__ out, T* dz, long long* state, int M, int N, long long stride, T eps,
                          T scale, T exp_max, T delta) {
    __shared__ T red[8][33];
    const long long cur = state[1];
    if (blockIdx.x == 0 && threadIdx.x == 0 && threadIdx.y == 0) state[0] = cur + 1;
    loss_rows(red, kind, z, y, sw, out, dz, cur, M, N, stride, eps, scale, exp_max, delta, (long long)blockIdx.x * 8,
              (long long)gridDim.x * 8);
}

// loss_grad's work for the rows first_row, first_row + row_step, ... (8 at a time, a row per
// threadIdx.y, 32 threads across it; every thread of the block must call it): also the fused
// single-block step's loss (mlp_step.cu), with z, y, sw and dz in shared memory.
template <typename T>
__device__ void loss_rows(T (&red)[8][33], int kind, const T* z, const T* y, const T* sw, T* out, T* dz,
                          long long cur, int M, int N, long long stride, T eps, T scale, T exp_max, T delta,
                          long long first_row, long long row_step) {
    const bool sparse = kind == GN_SCCE_SOFTMAX || kind == GN_SCCE || kind == GN_SCCE_LOGITS;
    const bool softmax = kind == GN_CCE_SOFTMAX || kind == GN_SCCE_SOFTMAX || kind == GN_CCE_LOGITS ||
                         kind == GN_SCCE_LOGITS;
    const int ky = sparse ? 1 : N;
    const T inv_n = T(1) / T(N);
    for (long long r0 = first_row; r0 < M; r0 += row_step) {
        const long long r = r0 + threadIdx.y;
        const bool live = r < M;
        const T* zr = z + r * N;
        const T* yr = y + r * ky;
        T* outr = out + (cur * stride + r) * N;
        T* dzr = dz + r * N;
        const T w = (live && sw) ? sw[r] * scale : scale;
        // Every thread of the block takes every reduction (the barriers inside must be uniform).
        T mx = gn_lowest<T>(), total = T(1);
        if (softmax) {
            if (live)
                for (int c = threadIdx.x; c < N; c += 32) mx = gn_max(mx, zr[c]);
            mx = row_reduce<T, true>(red, mx);
            T s = T(0);
            if (live)
                for (int c = threadIdx.x; c < N; c += 32) s += gn_exp(zr[c] - mx);
            total = row_reduce<T, false>(red, s);
        }
        if (kind == GN_CCE_LOGITS || kind == GN_SCCE_LOGITS) {  // softmax(z) sum(y) - y
            T ys = T(0);
            if (live && kind == GN_CCE_LOGITS)
                for (int c = threadIdx.x; c < N; c += 32) ys += yr[c];
            ys = kind == GN_CCE_LOGITS ? row_reduce<T, false>(red, ys) : T(1);
            if (live)
                for (int c = threadIdx.x; c < N; c += 32) {
                    outr[c] = zr[c];
                    const T p = gn_exp(zr[c] - mx) / total;
                    dzr[c] = (p * ys - gn_label(yr, c, kind, sparse)) * w;
                }
            continue;
        }
        if (softmax || kind == GN_CCE || kind == GN_SCCE) {
            // p (softmax output, or the given output); q = p / sum(p); m = q inside [eps, 1 - eps];
            // dL/dp_k = (sum_j y_j m_j - y_k m_k / clip(q_k)) / sum(p); through the softmax:
            // dz_k = p_k (dL/dp_k - sum_j p_j dL/dp_j).
            T ps = T(0);
            if (live)
                for (int c = threadIdx.x; c < N; c += 32) {
                    const T p = softmax ? gn_exp(zr[c] - mx) / total : zr[c];
                    outr[c] = p;
                    ps += p;
                }
            ps = row_reduce<T, false>(red, ps);
            T ym = T(0);
            if (live)
                for (int c = threadIdx.x; c < N; c += 32) {
                    const T q = outr[c] / ps;
                    if (q >= eps && q <= T(1) - eps) ym += gn_label(yr, c, kind, sparse);
                }
            ym = row_reduce<T, false>(red, ym);
            T dot = T(0);
            if (live)
                for (int c = threadIdx.x; c < N; c += 32) {
                    const T p = outr[c], q = p / ps;
                    const bool inside = q >= eps && q <= T(1) - eps;
                    const T qc = gn_min(gn_max(q, eps), T(1) - eps);
                    T g = (ym - (inside ? gn_label(yr, c, kind, sparse) : T(0)) / qc) / ps;
                    if (q != q) g = q;  // NaN stays NaN (the reference's mask multiplies it)
                    if (softmax) {
                        dot += g * p;
                        dzr[c] = g;  // dL/dp for now; the softmax's backward below
                    } else {
                        dzr[c] = g * w;
                    }
                }
            if (!softmax) continue;
            dot = row_reduce<T, false>(red, dot);
            if (live)
                for (int c = threadIdx.x; c < N; c += 32) dzr[c] = outr[c] * (dzr[c] - dot) * w;
            continue;
        }
        if (!live) continue;
        for (int c = threadIdx.x; c < N; c += 32) {  // elementwise kinds: no row reduction
            const T zc = zr[c], yc = yr[c];
            T g;
            if (kind == GN_BCE_SIGMOID) {
                const T p = zc != zc ? zc : gn_sigmoid_clamped(zc, exp_max);
                outr[c] = p;
                g = (p < eps || p > T(1) - eps) ? T(0) : (p - yc) * inv_n;  // NaN passes
            } else if (kind == GN_BCE) {
                outr[c] = zc;
                const T pc = gn_min(gn_max(zc, eps), T(1) - eps);
                g = (zc < eps || zc > T(1) - eps) ? T(0) : ((T(1) - yc) / (T(1) - pc) - yc / pc) * inv_n;
            } else if (kind == GN_BCE_LOGITS) {
                outr[c] = zc;
                g = (gn_sigmoid_clamped(zc, exp_max) - yc) * inv_n;
            } else if (kind == GN_MSE) {
                outr[c] = zc;
                g = (zc - yc) * (T(2) * inv_n);
            } else if (kind == GN_HUBER) {  // d = p - y: d where |d| <= delta, else delta sign(d); / N
                outr[c] = zc;
                const T d = zc - yc;
                g = (gn_abs(d) <= delta ? d : delta * (d > T(0) ? T(1) : (d < T(0) ? T(-1) : d * T(0)))) * inv_n;
            } else if (kind == GN_LOG_COSH) {  // tanh(p - y) / N
                outr[c] = zc;
                g = gn_tanh(zc - yc) * inv_n;
            } else if (kind == GN_MAPE) {  // sign(p - y) (100 / N) / max(|y|, eps)
                outr[c] = zc;
                const T d = zc - yc;
                g = (d > T(0) ? T(1) : (d < T(0) ? T(-1) : d * T(0))) * (T(100.0 / N) / gn_max(gn_abs(yc), eps));
            } else if (kind == GN_MSLE) {  // d = log(max(p, eps) + 1) - log(max(y, eps) + 1): 2 d / N / (max(p, eps) + 1)
                outr[c] = zc;
                const T p1 = gn_max(zc, eps) + T(1);
                const T d = gn_log(p1) - gn_log(gn_max(yc, eps) + T(1));
                g = d * T(zc >= eps ? 1 : 0) * (T(2) * inv_n) / p1;
            } else if (kind == GN_KLD) {  // -clip(y, eps, 1) / clip(p, eps, 1), 0 where p is clipped; no 1 / N
                outr[c] = zc;
                const T yv = gn_min(gn_max(yc, eps), T(1)), pv = gn_min(gn_max(zc, eps), T(1));
                g = -(yv / pv) * T(zc >= eps && zc <= T(1) ? 1 : 0);
            } else if (kind == GN_POISSON) {  // (1 - y / (p + eps)) / N
                outr[c] = zc;
                g = (T(1) - yc / (zc + eps)) * inv_n;
            } else {  // GN_MAE: sign(p - y) / N, 0 where p == y
                outr[c] = zc;
                const T d = zc - yc;
                g = (d > T(0) ? T(1) : (d < T(0) ? T(-1) : d * T(0))) * inv_n;  // d * 0: NaN stays NaN
            }
            if (zc != zc) g = zc;  // NaN in, NaN out, whatever the clamps above did with it
            dzr[c] = g * w;
        }
    }
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

// y = x * m, m[i] = (u_i >= rate) ? scale : 0, u_i uniform in [0, 1) from the hash above.
// Launch (both dropout kernels): block 256, 1-D grid-stride grid.
template <typename T>
__global__ void dropout_forward(const T* __restrict__ x, T* __restrict__ y, T* __restrict__ m, long long n,
                                double rate, T scale, const long long* state, long long salt) {
    const unsigned long long key =
        gn_splitmix(gn_splitmix((unsigned long long)state[2] ^ gn_splitmix((unsigned long long)salt)) ^
                    (unsigned long long)state[1]);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const double u = (double)(gn_splitmix(key ^ (unsigned long long)i) >> 11) * (1.0 / 9007199254740992.0);
        const T mi = u >= rate ? scale : T(0);
        m[i] = mi;
        y[i] = x[i] * mi;
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
template <typename T>
__global__ void reg_grad(const T* __restrict__ w, T* g, long long n, T l1, T l2, T* partial, const long long* state,
                         long long row_stride, long long col) {
    __shared__ T red[256];
    T acc = T(0);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T v = w[i];
        T gi = g[i];
        if (l1 != T(0)) gi += l1 * (v > T(0) ? T(1) : (v < T(0) ? T(-1) : v * T(0)));  // v * 0: NaN stays NaN
        if (l2 != T(0)) gi += (T(2) * l2) * v;
        g[i] = gi;
        acc += l1 * gn_abs(v) + l2 * (v * v);
    }
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int half = 128; half > 0; half >>= 1) {
        if (threadIdx.x < half) red[threadIdx.x] += red[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[state[1] * row_stride + col + blockIdx.x] = red[0];
}
