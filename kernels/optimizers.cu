// Fused optimizer steps over the flat parameter buffer: one launch per step.
//
// p, g and every slot buffer are flat arrays of n elements of T; a null slot
// pointer turns its feature off (no momentum, no amsgrad, not centered). Each
// thread updates whole elements in registers, reading and writing each buffer
// once, where the array-op reference makes several passes over memory.
// Hyperparameters arrive as T, already folded on the host exactly as the
// reference folds them (1 - beta_1, Adam's bias-corrected step size alpha, ...),
// so both do the same arithmetic in the same order.
//
// Inside a captured step (gpunet/backend/gpu_plan.py) the per-step scalars cannot be baked
// into the graph: there ``table`` is non-null, with two values per step of the epoch written
// by the host beforehand, ``*index`` the step's position in the epoch: table[2 * *index] is
// SGD's, RMSprop's and Adagrad's learning rate, Adam's alpha or Adamax's lr_t, table[2 * *index + 1] the momentum of
// SGD and RMSprop (a callback may change it for one step: Horovod's momentum correction).
//
// Launch (all): block 256, 1-D grid min(ceil(n / 256), 8 SMs), grid-stride loop.

// The step's row of the plan's table: its rate (or Adam's alpha), and its momentum.
template <typename T>
__device__ __forceinline__ T gn_table_rate(const T* table, long long step) { return table[2 * step]; }
template <typename T>
__device__ __forceinline__ T gn_table_momentum(const T* table, long long step) { return table[2 * step + 1]; }

// Keras SGD: v = momentum v - lr g; p += v (Nesterov: p += momentum v - lr g).
template <typename T>
__device__ __forceinline__ void sgd_element(T* p, const T* g, T* velocity, long long i, T lr, T momentum,
                                            int nesterov) {
    const T step = g[i] * lr;
    if (!velocity) {
        p[i] -= step;
        return;
    }
    const T v = velocity[i] * momentum - step;
    velocity[i] = v;
    p[i] = nesterov ? (p[i] - step) + v * momentum : p[i] + v;
}

template <typename T>
__global__ void sgd_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ velocity,
                           long long n, T lr, T momentum, int nesterov, const T* table,
                           const long long* index) {
    if (table) {
        lr = gn_table_rate(table, *index);
        momentum = gn_table_momentum(table, *index);
    }
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        sgd_element(p, g, velocity, i, lr, momentum, nesterov);
}

// Keras Adam: m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2);
// vhat = max(vhat, v) (amsgrad, vhat non-null); p -= alpha m / (sqrt(v or vhat) + epsilon).
template <typename T>
__device__ __forceinline__ void adam_element(T* p, const T* g, T* m, T* v, T* vhat, long long i, T alpha,
                                             T one_minus_beta_1, T one_minus_beta_2, T epsilon) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * one_minus_beta_1;
    T vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2;
    m[i] = mi;
    v[i] = vi;
    if (vhat) {
        vi = gn_max(vhat[i], vi);
        vhat[i] = vi;
    }
    p[i] -= mi / (gn_sqrt(vi) + epsilon) * alpha;
}

template <typename T>
__global__ void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                            T* __restrict__ vhat, long long n, T alpha, T one_minus_beta_1,
                            T one_minus_beta_2, T epsilon, const T* table, const long long* index) {
    if (table) alpha = gn_table_rate(table, *index);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        adam_element(p, g, m, v, vhat, i, alpha, one_minus_beta_1, one_minus_beta_2, epsilon);
}

// Keras RMSprop: rms = rho rms + (1 - rho) g^2; centered (mg non-null):
// mg = rho mg + (1 - rho) g; step = lr g / sqrt(rms - mg^2 + epsilon) (no mg^2
// unless centered); with momentum (mom non-null) mom = momentum mom + step, p -= mom;
// else p -= step.
template <typename T>
__device__ __forceinline__ void rmsprop_element(T* p, const T* g, T* rms, T* mom, T* mg, long long i, T lr,
                                                T rho, T one_minus_rho, T momentum, T epsilon) {
    const T gi = g[i];
    const T r = rms[i] * rho + gi * gi * one_minus_rho;
    rms[i] = r;
    T d = r;
    if (mg) {
        const T c = mg[i] * rho + gi * one_minus_rho;
        mg[i] = c;
        d = r - c * c;
    }
    T step = gi / gn_sqrt(d + epsilon) * lr;
    if (mom) {
        step = mom[i] * momentum + step;
        mom[i] = step;
    }
    p[i] -= step;
}

template <typename T>
__global__ void rmsprop_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ rms,
                               T* __restrict__ mom, T* __restrict__ mg, long long n, T lr, T rho,
                               T one_minus_rho, T momentum, T epsilon, const T* table,
                               const long long* index) {
    if (table) {
        lr = gn_table_rate(table, *index);
        momentum = gn_table_momentum(table, *index);
    }
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        rmsprop_element(p, g, rms, mom, mg, i, lr, rho, one_minus_rho, momentum, epsilon);
}

// Keras Adagrad: acc += g^2; p -= lr g / sqrt(acc + epsilon).
template <typename T>
__device__ __forceinline__ void adagrad_element(T* p, const T* g, T* acc, long long i, T lr, T epsilon) {
    const T gi = g[i];
    const T a = acc[i] + gi * gi;
    acc[i] = a;
    p[i] -= gi / gn_sqrt(a + epsilon) * lr;
}

template <typename T>
__global__ void adagrad_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ acc, long long n, T lr,
                               T epsilon, const T* table, const long long* index) {
    if (table) lr = gn_table_rate(table, *index);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        adagrad_element(p, g, acc, i, lr, epsilon);
}

// Keras Adamax: m += (g - m)(1 - beta_1); v = max(beta_2 v, |g|); p -= lr_t m / (v + epsilon), with
// lr_t = lr / (1 - beta_1^t) folded on the host (or the table's rate).
template <typename T>
__device__ __forceinline__ void adamax_element(T* p, const T* g, T* m, T* v, long long i, T lr_t, T one_minus_beta_1,
                                               T beta_2, T epsilon) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * one_minus_beta_1;
    const T vi = gn_max(v[i] * beta_2, gn_abs(gi));
    m[i] = mi;
    v[i] = vi;
    p[i] -= mi / (vi + epsilon) * lr_t;
}

template <typename T>
__global__ void adamax_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                              long long n, T lr_t, T one_minus_beta_1, T beta_2, T epsilon, const T* table,
                              const long long* index) {
    if (table) lr_t = gn_table_rate(table, *index);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        adamax_element(p, g, m, v, i, lr_t, one_minus_beta_1, beta_2, epsilon);
}

// Keras Lion: p -= lr sign(m beta_1 + g (1 - beta_1)); m = m beta_2 + g (1 - beta_2); sign(NaN) is NaN,
// as numpy.sign's. (NVRTC may fuse a product and a sum: within an ulp of the reference's two roundings.)
template <typename T>
__device__ __forceinline__ T lion_sign(T x) {
    return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
}

template <typename T>
__device__ __forceinline__ void lion_element(T* p, const T* g, T* m, long long i, T lr, T beta_1, T one_minus_beta_1,
                                             T beta_2, T one_minus_beta_2) {
    const T gi = g[i], mi = m[i];
    p[i] -= lion_sign(mi * beta_1 + gi * one_minus_beta_1) * lr;
    m[i] = mi * beta_2 + gi * one_minus_beta_2;
}

template <typename T>
__global__ void lion_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, long long n, T lr,
                            T beta_1, T one_minus_beta_1, T beta_2, T one_minus_beta_2, const T* table,
                            const long long* index) {
    if (table) lr = gn_table_rate(table, *index);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        lion_element(p, g, m, i, lr, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2);
}

// Keras Adadelta: accum_grad = rho accum_grad + (1 - rho) g^2; delta = sqrt(accum_var + epsilon) g /
// sqrt(accum_grad + epsilon); accum_var = rho accum_var + (1 - rho) delta^2; p -= lr delta.
template <typename T>
__device__ __forceinline__ void adadelta_element(T* p, const T* g, T* accum_grad, T* accum_var, long long i, T lr,
                                                 T rho, T one_minus_rho, T epsilon) {
    const T gi = g[i];
    const T ag = accum_grad[i] * rho + gi * gi * one_minus_rho;
    const T delta = gn_sqrt(accum_var[i] + epsilon) * gi / gn_sqrt(ag + epsilon);
    accum_grad[i] = ag;
    accum_var[i] = accum_var[i] * rho + delta * delta * one_minus_rho;
    p[i] -= delta * lr;
}

template <typename T>
__global__ void adadelta_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ accum_grad,
                                T* __restrict__ accum_var, long long n, T lr, T rho, T one_minus_rho, T epsilon,
                                const T* table, const long long* index) {
    if (table) lr = gn_table_rate(table, *index);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        adadelta_element(p, g, accum_grad, accum_var, i, lr, rho, one_minus_rho, epsilon);
}

// Keras Ftrl (gpunet/optimizers/ftrl.py), power = -learning_rate_power:
//   accum_new = accum + g^2; linear += (g + 2 shrinkage w) - (accum_new^power - accum^power) / lr w;
//   w = (clip(linear, -l1, l1) - linear) / (accum_new^power / lr + 2 (l2 + beta / (2 lr)))
// with the rate from the table (a schedule's, decayed), so l2 + beta / (2 lr) is folded here, in T,
// as the reference rounds it; two_shrinkage = 2 l2_shrinkage (exact in T).
template <typename T>
__global__ void ftrl_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ accum, T* __restrict__ linear,
                            long long n, T lr, T power, T l1, T l2, T beta, T two_shrinkage, const T* table,
                            const long long* index) {
    if (table) lr = gn_table_rate(table, *index);
    const T two_l2 = T(2) * (l2 + beta / (T(2) * lr));
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T gi = g[i], wi = p[i];
        const T before = gn_pow(accum[i], power);
        const T grown = accum[i] + gi * gi;
        const T after = gn_pow(grown, power);
        accum[i] = grown;
        const T lin = linear[i] + ((wi * two_shrinkage + gi) - (after - before) / lr * wi);
        linear[i] = lin;
        p[i] = (gn_min(gn_max(lin, -l1), l1) - lin) / (after / lr + two_l2);
    }
}

// Keras Nadam: Adam's moments, then p -= lr (m a + g b) / (sqrt(v c) + epsilon), where the host folds
// the momentum schedule into a = u_next / (1 - u_product u_next), b = (1 - u_t) / (1 - u_product)
// and c = 1 / (1 - beta_2^t), as the reference rounds them. Its table rows are 4 wide:
// table[4 * *index + 0..3] = lr, a, b, c (the schedule changes every step).
template <typename T>
__device__ __forceinline__ void nadam_element(T* p, const T* g, T* m, T* v, long long i, const T* row,
                                              T one_minus_beta_1, T one_minus_beta_2, T epsilon) {
    const T gi = g[i];
    const T mi = m[i] + (gi - m[i]) * one_minus_beta_1;
    const T vi = v[i] + (gi * gi - v[i]) * one_minus_beta_2;
    m[i] = mi;
    v[i] = vi;
    p[i] -= (mi * row[1] + gi * row[2]) / (gn_sqrt(vi * row[3]) + epsilon) * row[0];
}

template <typename T>
__global__ void nadam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m, T* __restrict__ v,
                             long long n, T lr, T a, T b, T c, T one_minus_beta_1, T one_minus_beta_2, T epsilon,
                             const T* table, const long long* index) {
    const T given[4] = {lr, a, b, c};
    const T* row = table ? table + 4 * *index : given;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        nadam_element(p, g, m, v, i, row, one_minus_beta_1, one_minus_beta_2, epsilon);
}

// Keras's weight constraints after the update, on a (K, N) weight with its vectors along axis 0
// (a Dense kernel's columns; a bias is K = its length, N = 1), one thread a column:
// mode 0 NonNeg: w *= (w >= 0); otherwise norms = sqrt(sum_k w^2) (rows in order, as NumPy
// sums along axis 0), desired = mode 1 MaxNorm: clip(norms, 0, a); mode 2 UnitNorm: 1 (the
// weight divided by eps + norms); mode 3 MinMaxNorm: rate clip(norms, a, b) + (1 - rate) norms
// (1 - rate folded on the host, as the reference rounds it);
// then w *= desired / (eps + norms), as gpunet/constraints.py computes it.
// Column n of w (shared with mlp_step.cu's one-block step).
template <typename T>
__device__ __forceinline__ void gn_constrain_column(T* w, long long K, long long N, long long n, int mode, T a, T b,
                                                    T rate, T one_minus_rate, T eps) {
    if (mode == 0) {
        for (long long k = 0; k < K; ++k) w[k * N + n] *= w[k * N + n] >= T(0) ? T(1) : T(0);
        return;
    }
    T sq = T(0);
    for (long long k = 0; k < K; ++k) sq += w[k * N + n] * w[k * N + n];
    const T norm = gn_sqrt(sq);
    if (mode == 2) {
        for (long long k = 0; k < K; ++k) w[k * N + n] /= eps + norm;
        return;
    }
    const T desired = mode == 1 ? gn_min(gn_max(norm, T(0)), a) : rate * gn_min(gn_max(norm, a), b) + one_minus_rate * norm;
    const T factor = desired / (eps + norm);
    for (long long k = 0; k < K; ++k) w[k * N + n] *= factor;
}

template <typename T>
__global__ void constrain_columns(T* w, long long K, long long N, int mode, T a, T b, T rate, T one_minus_rate,
                                  T eps) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += stride)
        gn_constrain_column(w, K, N, n, mode, a, b, rate, one_minus_rate, eps);
}
