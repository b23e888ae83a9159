// The loss kernel of a training step (gpunet/backend/gpu_plan.py): the model's outputs into the
// epoch's output buffer and the loss's gradient with respect to the last layer's output, in one
// launch (loss_grad), and the same rows' work as a device function (loss_rows) for the
// single-block step (mlp_step.cu). loss_grad reads the batch being trained from state[1] and
// advances state[0] (see step.cu's header on `state`).

// Loss kinds: the output's activation fused with the loss ("_SOFTMAX", "_SIGMOID": z is
// the last Dense layer's linear output, dz the gradient with respect to it), the loss of
// an output the Dense layer already activated (dz with respect to p), and the
// from_logits losses (z holds logits, which are also the model's outputs).
enum LossKind {
    GN_BCE_SIGMOID = 0, GN_CCE_SOFTMAX = 1, GN_SCCE_SOFTMAX = 2, GN_BCE = 3, GN_CCE = 4, GN_SCCE = 5,
    GN_MSE = 6, GN_MAE = 7, GN_BCE_LOGITS = 8, GN_CCE_LOGITS = 9, GN_SCCE_LOGITS = 10, GN_HUBER = 11,
    GN_LOG_COSH = 12, GN_MAPE = 13, GN_MSLE = 14, GN_KLD = 15, GN_POISSON = 16, GN_HINGE = 17,
    GN_SQUARED_HINGE = 18, GN_CATEGORICAL_HINGE = 19, GN_COSINE = 20
};

template <typename T>
__device__ __forceinline__ T gn_sigmoid_clamped(T z, T exp_max) {
    return T(1) / (T(1) + gn_exp(gn_min(-z, exp_max)));  // -z clamped: exp never overflows
}

template <typename T>
__device__ __forceinline__ T gn_label(const T* yr, int c, int kind, bool sparse) {
    return sparse ? T((long long)yr[0] == c ? 1 : 0) : yr[c];
}

// Whether any thread of a (32, 8) block passes v: row_reduce leaves each row's answer in
// red[row][32], which every thread may read until the next row_reduce's first barrier.
template <typename T>
__device__ __forceinline__ bool gn_block_any(T (&red)[8][33], bool v) {
    row_reduce<T, true>(red, v ? T(1) : T(0));
    bool any = false;
    for (int k = 0; k < 8; ++k) any = any || red[k][32] != T(0);
    return any;
}

// For each row r < M of the batch (being batch state[1], stride rows apart in the epoch):
// the model's output p into out[(state[1] * stride + r), :], and into dz the gradient of
// Keras's loss (sum over the batch / M, times sw[r]) with respect to z; kinds as above,
// the gradients exactly those of gpunet/losses (clipping to [eps, 1 - eps] included).
// y is (M, N), or (M, 1) class indices for the sparse kinds. Advances state[0].
// Launch: block (32, 8), a row per threadIdx.y; grid min(ceil(M / 8), 8 SMs), grid-stride; one
// block for the hinge and squared hinge kinds, whose labels depend on the whole batch.
template <typename T, bool HINGE_KINDS = true>
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

// The categorical hinge and cosine similarity rows (every thread of the block calls it: row
// reductions). Categorical hinge: m = max((1 - y) p) - sum(y p) + 1, and where m >= 0 the
// gradient -y plus (1 - y) at the maximum's first index (numpy.argmax's: a NaN is the maximum).
// Cosine similarity: -sum(yn pn) with v_n = v / sqrt(max(sum(v^2), 1e-12)); its gradient
// (pn cos [sum(p^2) >= 1e-12] - yn) / norm(p), as gpunet/losses/regression.py computes it.
template <typename T>
__device__ __forceinline__ void loss_row_reduced(T (&red)[8][33], int kind, const T* zr, const T* yr, T* outr,
                                                 T* dzr, bool live, int N, T w) {
    T a = T(0), b = T(0);
    if (kind == GN_CATEGORICAL_HINGE) {
        a = live ? (T(1) - yr[0]) * zr[0] : T(0);  // the max starts from a value of the row (-inf rows too)
        if (live)
            for (int c = threadIdx.x; c < N; c += 32) {
                outr[c] = zr[c];
                a = gn_max(a, (T(1) - yr[c]) * zr[c]);
                b += yr[c] * zr[c];
            }
        const T top = row_reduce<T, true>(red, a), pos = row_reduce<T, false>(red, b);
        T first = T(-N);  // the first index holding the maximum, as the max of -index
        if (live)
            for (int c = threadIdx.x; c < N; c += 32) {
                const T o = (T(1) - yr[c]) * zr[c];
                if (o == top || (o != o && top != top)) first = gn_max(first, T(-c));
            }
        const int at = -(int)row_reduce<T, true>(red, first);
        const bool on = top - pos + T(1) >= T(0);
        if (live)
            for (int c = threadIdx.x; c < N; c += 32)
                dzr[c] = on ? ((c == at ? T(1) - yr[c] : T(0)) - yr[c]) * w : T(0);
        return;
    }
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) {
            outr[c] = zr[c];
            a += zr[c] * zr[c];
            b += yr[c] * yr[c];
        }
    const T ss = row_reduce<T, false>(red, a), yy = row_reduce<T, false>(red, b);
    const T norm = gn_sqrt(gn_max(ss, T(1e-12))), ynorm = gn_sqrt(gn_max(yy, T(1e-12)));
    T cs = T(0);
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) cs += (yr[c] / ynorm) * (zr[c] / norm);
    cs = row_reduce<T, false>(red, cs);
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) {
            T g = (zr[c] / norm) * cs;
            if (!(ss >= T(1e-12))) g = g * T(0);  // NumPy multiplies by the mask: NaN stays NaN
            dzr[c] = (g - yr[c] / ynorm) / norm * w;
        }
}

// loss_grad's work for the rows first_row, first_row + row_step, ... (8 at a time, a row per
// threadIdx.y, 32 threads across it; every thread of the block must call it): also the fused
// single-block step's loss (mlp_step.cu), with z, y, sw and dz in shared memory, which leaves
// out the hinge kinds and cosine similarity in double (HINGE_KINDS false: inside mlp_step<double>
// their code makes ptxas spill registers; gpu_fused_step.py sends those models to loss_grad).
template <typename T, bool HINGE_KINDS>
__device__ void loss_rows(T (&red)[8][33], int kind, const T* z, const T* y, const T* sw, T* out, T* dz,
                          long long cur, int M, int N, long long stride, T eps, T scale, T exp_max, T delta,
                          long long first_row, long long row_step) {
    const bool sparse = kind == GN_SCCE_SOFTMAX || kind == GN_SCCE || kind == GN_SCCE_LOGITS;
    const bool softmax = kind == GN_CCE_SOFTMAX || kind == GN_SCCE_SOFTMAX || kind == GN_CCE_LOGITS ||
                         kind == GN_SCCE_LOGITS;
    const int ky = sparse ? 1 : N;
    const T inv_n = T(1) / T(N);
    // Keras's hinge losses read 0/1 labels as -1/1 when every label of the batch is 0 or 1: one
    // decision over the batch (all of y), which is why their loss_grad runs as a single block.
    bool to_signs = false;
    if (HINGE_KINDS && (kind == GN_HINGE || kind == GN_SQUARED_HINGE)) {
        bool other = false;
        for (long long i = threadIdx.y * 32 + threadIdx.x; i < (long long)M * N; i += 256)
            other = other || (y[i] != T(0) && y[i] != T(1));
        to_signs = !gn_block_any(red, other);
    }
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
        if (softmax) total = gn_row_exp_sum(red, zr, live, N, &mx);
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
        if constexpr (HINGE_KINDS) {
            if (kind == GN_CATEGORICAL_HINGE || kind == GN_COSINE) {
                loss_row_reduced(red, kind, zr, yr, outr, dzr, live, N, w);
                continue;
            }
        }
        if (!live) continue;
        if (HINGE_KINDS && (kind == GN_HINGE || kind == GN_SQUARED_HINGE)) {  // yv: 2 y - 1 or y; m = 1 - yv p
            for (int c = threadIdx.x; c < N; c += 32) {
                const T p = zr[c], yv = to_signs ? T(2) * yr[c] - T(1) : yr[c];
                const T margin = T(1) - yv * p;
                outr[c] = p;
                // hinge: -yv / N where m >= 0 (NaN: 0, as NumPy's mask gives); squared: -2 yv max(m, 0) / N
                dzr[c] = (kind == GN_HINGE ? (margin >= T(0) ? -yv * inv_n : T(0))
                                           : -(yv * gn_max(margin, T(0))) * T(2.0 / N)) * w;
            }
            continue;
        }
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
