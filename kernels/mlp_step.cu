// mlp_step<T>: a whole training step of a small stack of Dense layers in one launch of one
// block (gpunet/backend/gpu_fused_step.py decides when a model is small enough).
//
// Why: a small model's step is latency, not arithmetic. As 2L + 3 launches (gpu_plan.py) the
// Pima MLP's step costs ~40 us on an H200 even replayed from a CUDA graph, ~4.5 us a kernel;
// here the batch, every activation and every gradient of the batch stay in shared memory, and
// the step is one kernel: the gather, the forward pass, the loss gradient (loss.cu's
// loss_rows), the backward pass (dW and db into the flat gradient buffer) and the optimizer's
// update over the flat parameter buffer (optimizers.cu's element functions), with barriers
// between the phases. The arithmetic is the multi-launch plan's, term for term; only the
// order of the sums in the products differs.
//
// sources: the gather's (4,) address table (x, y, sw, order), as batch_gather reads it.
// meta: GN_MLP_META ints per layer: K, N, w_off, b_off (-1: no bias; offsets into params /
//   grads), act code, act flags, in_off (the layer's input), z_off, a_off (A_l), mask_off,
//   drop_src, drop_mask, softmax (1: A_l is the row softmax of Z, as softmax.cu's kernels compute
//   it forward and backward), then a BatchNormalization after the layer: bn_out (-1: none; its
//   activated output, what the next layer reads), bn_xhat, bn_z (-1: its activation keeps no z),
//   bn_mask (-1: no mask), bn_inv, gamma_off, beta_off (-1: scale=False / center=False; offsets
//   into params / grads), its act code, its act flags; in_off, z_off, a_off, drop_src and the
//   bn_ offsets but bn_mask are shared-memory value offsets, mask_off, drop_mask and bn_mask into
//   the mask buffer. A Dropout in front of the layer (drop_src >= 0:
//   A_{l-1}, or the batch's x, before the dropout) writes its kept values, scaled, at in_off and
//   its keep flags at drop_mask, drawn as step.cu's dropout_forward draws them (its rate in
//   drop_rates[l], its salt in drop_salts[l], the epoch's seed in state[2]): the same masks as the
//   multi-launch step's. actp: GN_MLP_ACTP values per layer: alpha, max_value, threshold, the
//   dropout's scale 1 / (1 - rate), then the BatchNormalization's: its activation's alpha,
//   max_value, threshold, momentum, 1 - momentum (as the host computes it for bn_forward) and
//   epsilon. moving: per layer the addresses of the BatchNormalization's moving_mean and
//   moving_variance (0, 0: none). x_off, y_off, sw_off (-1: none): the gathered batch;
//   d0_off, d1_off: two gradient buffers of rows x (the widest layer) values.
// A BatchNormalization runs as batch_norm.cu's bn_forward and bn_backward do with a block of 8
// thread rows, 32 columns at a time (its column functions; the same sums in the same order):
// after A_l, the batch statistics, the moving averages, xhat, the activation; backward, its
// gradient (arriving where dA_l would) becomes dgamma, dbeta and, in place, dA_l.
// The loss takes A_L (the last layer's output as the plan computes it: linear when the loss
// kernel applies the activation itself) and writes dL/dA_L into d0; each layer's dZ is then
// act_backward of its dA, in place.
// The optimizer (opt_kind 0 SGD, 1 Adam, 2 RMSprop, 3 Adagrad, 4 Adamax, 5 Nadam, 6 Lion, 7 Adadelta)
// reads this step's scalars from table (two per step, as the multi-launch plan's: the rate or Adam's
// alpha, and the momentum; Nadam's rows are 4 wide: lr, a, b, c);
// s1, s2, s3: its slots (SGD velocity; Adam m, v, vhat; RMSprop rms, momentum, mg), null
// where unused (Adagrad: s1 its accumulator); c1, c2, c3: Adam 1 - beta_1, 1 - beta_2, epsilon;
// RMSprop rho, 1 - rho, epsilon; Adagrad c3 epsilon; Adamax (s1 m, s2 v) 1 - beta_1, beta_2,
// epsilon; Nadam (s1 m, s2 v) 1 - beta_1, 1 - beta_2, epsilon; Lion (s1 m) beta_1, beta_2; Adadelta
// (s1 accum_grad, s2 accum_var) rho, 1 - rho, epsilon; flag: SGD's nesterov.
// Before the update, as grad_transforms.cu's launches in the optimizer's order: clip_flags bit 0,
// g = clip(g, -clip_value, clip_value); then n_segs norm clips, each a row (lo, hi, -, -) of wmeta
// after the weights' rows (clipnorm: one per weight; global_clipnorm: the whole buffer), g *=
// clip_norm / max(norm, clip_norm); then, where decay_factors is non-null, the weight decay of
// factor decay_factors[b] (decay_mask non-null: p -= (mask * factor) * p; else p *= factor).
// Weight regularizers and constraints, as the multi-launch step's reg_grad and constrain_columns
// launches: wmeta holds 4 long longs and wpar 4 values per weight, the n_regs regularized weights
// first (offset, size, col, blocks; l1, l2, -, -), then the n_cons constrained ones (offset, K, N,
// mode; a, b, rate, 1 - rate). A regularizer adds its gradient after the backward pass and writes
// its penalty, summed over the block, into partial[b * row_stride + col] (its other blocks' cells
// zero: the row is this step's alone); a constraint projects its weight after the update.
// state: as the multi-launch plan's: reads state[0], sets state[1] to it and advances state[0].
// Launch: grid (1, 1, 1), block (32, 8, 1).
// 40 KiB of values: 10240 in float32, 5120 in float64; with the masks and the reduction rows,
// under the 48 KiB of static shared memory a block may have.
#define GN_MLP_BYTES 40960
#define GN_MLP_MASKS 4096
#define GN_MLP_META 22
#define GN_MLP_ACTP 10

// (256, 1): one block is all it ever runs, so ptxas may give it the registers it wants; aiming at
// more blocks per SM it held mlp_step<double> to 80 and spilled once BatchNormalization came in.
template <typename T>
__global__ void __launch_bounds__(256, 1)
mlp_step(const unsigned long long* __restrict__ sources, T* params, T* grads, const int* __restrict__ meta,
         const T* __restrict__ actp, const double* __restrict__ drop_rates, const long long* __restrict__ drop_salts,
         int L, int x_off, int y_off, int sw_off, int d0_off, int d1_off, int loss_kind,
         T* out, long long* state, int rows, long long stride, long long x_stride, int kx, int ky, T eps, T scale,
         T exp_max, T delta, int opt_kind, T* s1, T* s2, T* s3, long long n_params, T c1, T c2, T c3, int flag,
         const T* __restrict__ table, const long long* __restrict__ wmeta, const T* __restrict__ wpar, int n_regs,
         int n_cons, T* partial, long long row_stride, int clip_flags, T clip_value, T clip_norm, int n_segs,
         const T* __restrict__ decay_factors, const T* __restrict__ decay_mask,
         const unsigned long long* __restrict__ moving) {
    __shared__ T buf[GN_MLP_BYTES / sizeof(T)];
    __shared__ unsigned char masks[GN_MLP_MASKS];
    __shared__ T red[8][33];
    const int tid = threadIdx.y * 32 + threadIdx.x, nt = 256;
    const long long b = state[0];
    const T* x = reinterpret_cast<const T*>(sources[0]);
    const T* y = reinterpret_cast<const T*>(sources[1]);
    const T* sw = reinterpret_cast<const T*>(sources[2]);
    const long long* order = reinterpret_cast<const long long*>(sources[3]);
    const long long first = b * stride, x_first = b * x_stride;
    for (int i = tid; i < rows * kx; i += nt) {
        const int r = i / kx, c = i - r * kx;
        buf[x_off + i] = x[(order ? order[x_first + r] : x_first + r) * kx + c];
    }
    for (int i = tid; i < rows * ky; i += nt) {
        const int r = i / ky, c = i - r * ky;
        buf[y_off + i] = y[(order ? order[first + r] : first + r) * ky + c];
    }
    if (sw_off >= 0)
        for (int r = tid; r < rows; r += nt) buf[sw_off + r] = sw[order ? order[first + r] : first + r];
    __syncthreads();  // every thread has read state[0]
    if (tid == 0) {
        state[1] = b;
        state[0] = b + 1;
    }

    for (int l = 0; l < L; ++l) {  // forward: [dropout,] Z = A W + b, A_l = act(Z)
        const int* m = meta + l * GN_MLP_META;
        const int K = m[0], N = m[1];
        const T* ap = actp + l * GN_MLP_ACTP;
        const ActParams<T> p = {m[4], ap[0], ap[1], ap[2], m[5]};
        if (m[10] >= 0) {
            const unsigned long long key = gn_dropout_key(state[2], drop_salts[l], b);
            const double rate = drop_rates[l];
            const T scale = ap[3];
            for (int i = tid; i < rows * K; i += nt) {
                const bool keep = gn_dropout_keep(key, i, rate);
                masks[m[11] + i] = keep;
                buf[m[6] + i] = buf[m[10] + i] * (keep ? scale : T(0));
            }
            __syncthreads();
        }
        const T* A = buf + m[6];
        const T* W = params + m[2];
        for (int i = tid; i < rows * N; i += nt) {
            const int r = i / N, n = i - r * N;
            T acc = T(0);
            for (int k = 0; k < K; ++k) acc += A[r * K + k] * W[(long long)k * N + n];
            if (m[3] >= 0) acc += params[m[3] + n];
            unsigned char mk = 0;
            buf[m[7] + i] = acc;
            buf[m[8] + i] = act_forward(p, acc, &mk);
            masks[m[9] + i] = mk;
        }
        __syncthreads();
        if (m[12]) {  // (the act code is linear: A_l holds Z, softmaxed in place row by row)
            for (int g = 0; g < rows; g += 8) {
                T* ar = buf + m[8] + (long long)(g + threadIdx.y) * N;
                gn_softmax_row(red, ar, ar, g + (int)threadIdx.y < rows, N);
            }
            __syncthreads();
        }
        if (m[13] >= 0) {  // the BatchNormalization after it normalizes A_l into bn_out
            const ActParams<T> q = {m[20], ap[4], ap[5], ap[6], m[21]};
            T* mm = reinterpret_cast<T*>(moving[2 * l]);
            T* mv = reinterpret_cast<T*>(moving[2 * l + 1]);
            for (int c0 = 0; c0 < N; c0 += 32) {  // (a bound every thread shares: the sums' barriers)
                const int n = c0 + threadIdx.x;
                T mean, var;
                gn_bn_stats(red, buf + m[8], rows, N, n, n < N, &mean, &var);
                if (n < N)
                    gn_bn_normalize(q, buf + m[8], buf + m[13], buf + m[14], buf + m[17],
                                    m[18] >= 0 ? params + m[18] : (const T*)nullptr,
                                    m[19] >= 0 ? params + m[19] : (const T*)nullptr, mm, mv,
                                    m[15] >= 0 ? buf + m[15] : (T*)nullptr,
                                    m[16] >= 0 ? masks + m[16] : (unsigned char*)nullptr, rows, N, n, mean, var,
                                    ap[7], ap[8], ap[9]);
            }
            __syncthreads();
        }
    }

    const int* last = meta + (L - 1) * GN_MLP_META;
    // (the hinge kinds and cosine similarity in float only: in double they make ptxas spill registers)
    loss_rows<T, sizeof(T) == 4>(red, loss_kind, buf + last[8], buf + y_off, sw_off >= 0 ? buf + sw_off : (const T*)nullptr,
                        out, buf + d0_off, b, rows, last[1], stride, eps, scale, exp_max, delta, 0LL, 8LL);
    __syncthreads();

    int cur = d0_off, other = d1_off;
    for (int l = L - 1; l >= 0; --l) {  // backward: dZ = act'(dA); dW = A^T dZ; db = sum dZ; dA_{l-1} = dZ W^T
        const int* m = meta + l * GN_MLP_META;
        const int K = m[0], N = m[1];
        const T* ap = actp + l * GN_MLP_ACTP;
        const ActParams<T> p = {m[4], ap[0], ap[1], ap[2], m[5]};
        const T* A = buf + m[6];
        const T* W = params + m[2];
        T* dz = buf + cur;
        if (m[13] >= 0) {  // bn_backward: the gradient of bn_out becomes dgamma, dbeta and dA_l, in place
            const ActParams<T> q = {m[20], ap[4], ap[5], ap[6], m[21]};
            const T* gamma = m[18] >= 0 ? params + m[18] : (const T*)nullptr;
            const T* bz = m[15] >= 0 ? buf + m[15] : (const T*)nullptr;
            const unsigned char* bmask = m[16] >= 0 ? masks + m[16] : (const unsigned char*)nullptr;
            for (int c0 = 0; c0 < N; c0 += 32) {
                const int n = c0 + threadIdx.x;
                const GnBnSums<T> s = gn_bn_sums(red, q, dz, buf + m[14], gamma, bz, buf + m[13], bmask, rows, N, n,
                                                 n < N);
                if (n < N)
                    gn_bn_input_grad(q, s, dz, buf + m[14], buf[m[17] + n], gamma,
                                     m[18] >= 0 ? grads + m[18] : (T*)nullptr, m[19] >= 0 ? grads + m[19] : (T*)nullptr,
                                     dz, bz, buf + m[13], bmask, rows, N, n);
            }
            __syncthreads();  // dA_l's columns are whole before its rows are read
        }
        if (m[12]) {  // softmax_backward's rows: dZ = A (dA - sum(dA A))
            for (int g = 0; g < rows; g += 8) {
                const long long r = g + threadIdx.y;
                T* dr = dz + r * N;
                gn_softmax_backward_row(red, dr, buf + m[8] + r * N, dr, r < rows, N);
            }
        } else {
            for (int i = tid; i < rows * N; i += nt) dz[i] = act_backward(p, dz[i], buf + m[7], buf + m[8], masks + m[9], i);
        }
        __syncthreads();
        for (int i = tid; i < K * N; i += nt) {
            const int k = i / N, n = i - k * N;
            T acc = T(0);
            for (int r = 0; r < rows; ++r) acc += A[r * K + k] * dz[r * N + n];
            grads[m[2] + i] = acc;
        }
        if (m[3] >= 0)
            for (int n = tid; n < N; n += nt) {
                T acc = T(0);
                for (int r = 0; r < rows; ++r) acc += dz[r * N + n];
                grads[m[3] + n] = acc;
            }
        if (l > 0) {  // (through the dropout in front: the gradient times its mask, as dropout_backward)
            T* dprev = buf + other;
            const T scale = ap[3];
            for (int i = tid; i < rows * K; i += nt) {
                const int r = i / K, k = i - r * K;
                T acc = T(0);
                for (int n = 0; n < N; ++n) acc += dz[r * N + n] * W[(long long)k * N + n];
                dprev[i] = m[10] >= 0 ? acc * (masks[m[11] + i] ? scale : T(0)) : acc;
            }
        }
        __syncthreads();  // the gradients are written, and no thread reads W any more
        const int swap = cur;
        cur = other;
        other = swap;
    }

    for (int r = 0; r < n_regs; ++r) {  // the regularizers' gradients, before the update
        const long long* d = wmeta + r * 4;
        T acc = T(0);
        for (long long i = tid; i < d[1]; i += nt) acc += gn_reg_element(params + d[0], grads + d[0], i, wpar[r * 4],
                                                                         wpar[r * 4 + 1]);
        T* flat = &red[0][0];
        flat[tid] = acc;
        gn_block_sum_256(flat, tid);
        for (long long j = tid; j < d[3]; j += nt) partial[b * row_stride + d[2] + j] = j == 0 ? flat[0] : T(0);
        __syncthreads();  // flat is read before the next weight's sums overwrite it
    }

    if (clip_flags & 1) {
        for (long long i = tid; i < n_params; i += nt) {
            const T v = grads[i];
            grads[i] = v < -clip_value ? -clip_value : (v > clip_value ? clip_value : v);
        }
        __syncthreads();
    }
    for (int s = 0; s < n_segs; ++s) {
        const long long* d = wmeta + (n_regs + n_cons + s) * 4;
        T acc = T(0);
        for (long long i = d[0] + tid; i < d[1]; i += nt) acc += grads[i] * grads[i];
        T* flat = &red[0][0];
        flat[tid] = acc;
        gn_block_sum_256(flat, tid);
        const T scale = clip_norm / gn_max(gn_sqrt(flat[0]), clip_norm);
        for (long long i = d[0] + tid; i < d[1]; i += nt) grads[i] *= scale;
        __syncthreads();  // flat[0] is read before the next segment's sums overwrite it
    }
    if (decay_factors) {
        const T factor = decay_factors[b];
        for (long long i = tid; i < n_params; i += nt) {
            if (decay_mask) params[i] -= (decay_mask[i] * factor) * params[i];
            else params[i] *= factor;
        }
        __syncthreads();
    }

    const T scalar = gn_table_rate(table, b), momentum = gn_table_momentum(table, b);
    for (long long i = tid; i < n_params; i += nt) {
        if (opt_kind == 0)
            sgd_element(params, grads, s1, i, scalar, momentum, flag);
        else if (opt_kind == 1)
            adam_element(params, grads, s1, s2, s3, i, scalar, c1, c2, c3);
        else if (opt_kind == 3)
            adagrad_element(params, grads, s1, i, scalar, c3);
        else if (opt_kind == 4)
            adamax_element(params, grads, s1, s2, i, scalar, c1, c2, c3);
        else if (opt_kind == 5)
            nadam_element(params, grads, s1, s2, i, table + 4 * b, c1, c2, c3);
        else if (opt_kind == 6)  // (1 - beta in T is what the multi-launch plan passes: exact either way)
            lion_element(params, grads, s1, i, scalar, c1, T(1) - c1, c2, T(1) - c2);
        else if (opt_kind == 7)
            adadelta_element(params, grads, s1, s2, i, scalar, c1, c2, c3);
        else
            rmsprop_element(params, grads, s1, s2, s3, i, scalar, c1, c2, momentum, c3);
    }
    if (n_cons > 0) __syncthreads();  // every column's values updated before a thread reads its norm
    for (int c = n_regs; c < n_regs + n_cons; ++c) {
        const long long* d = wmeta + c * 4;
        const T* q = wpar + c * 4;
        for (long long n = tid; n < d[2]; n += nt)
            gn_constrain_column(params + d[0], d[1], d[2], n, (int)d[3], q[0], q[1], q[2], q[3], eps);
    }
}
