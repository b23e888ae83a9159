// mlp_forward<T>: inference (predict, evaluate, validation) of a small stack of Dense layers in
// one launch for all the rows (gpunet/backend/gpu_fused_forward.py decides when a model is small
// enough).
//
// Why: on a model as small as the tutorials' Pima MLP, the forward plan's launch per layer per
// batch is all latency: predict on 768 rows at batch 32 is 72 launches, and fit's validation
// pays it every epoch. Each row's outputs depend on that row alone, so the batches need not be
// launches: each block takes `rows_per_block` rows at a time (grid-stride), runs them through
// every layer in shared memory and writes the last layer's output to out. The per-element
// arithmetic is the forward plan's (act_forward, the softmax of softmax.cu); only the order of
// the sums in the products differs.
//
// x (M, kx) row-major; out (M, N_L); weights: per layer the addresses of its kernel (K, N) and
// bias (0: none); meta: GN_FWD_META ints per layer: K, N, act code, act flags, softmax (1: the
// row softmax after the linear output); actp: per layer alpha, max_value, threshold.
// width: the widest layer input or output, rows_per_block * width <= half the value buffer.
// Launch: block (32, 8, 1); grid-stride over groups of rows_per_block rows.
#define GN_FWD_BYTES 40960
#define GN_FWD_META 5

template <typename T>
__global__ void __launch_bounds__(256)
mlp_forward(const T* __restrict__ x, T* __restrict__ out, const unsigned long long* __restrict__ weights,
            const int* __restrict__ meta, const T* __restrict__ actp, int L, long long M, int kx, int rows_per_block,
            int width) {
    __shared__ T buf[GN_FWD_BYTES / sizeof(T)];
    __shared__ T red[8][33];
    const int tid = threadIdx.y * 32 + threadIdx.x, nt = 256;
    for (long long r0 = (long long)blockIdx.x * rows_per_block; r0 < M;
         r0 += (long long)gridDim.x * rows_per_block) {
        const int rows = (int)(M - r0 < rows_per_block ? M - r0 : rows_per_block);
        T* a = buf;
        T* next = buf + rows_per_block * width;
        for (int i = tid; i < rows * kx; i += nt) a[i] = x[r0 * kx + i];
        __syncthreads();
        for (int l = 0; l < L; ++l) {
            const int* m = meta + l * GN_FWD_META;
            const int K = m[0], N = m[1];
            const ActParams<T> p = {m[2], actp[l * 3], actp[l * 3 + 1], actp[l * 3 + 2], m[3]};
            const T* W = reinterpret_cast<const T*>(weights[2 * l]);
            const T* bias = reinterpret_cast<const T*>(weights[2 * l + 1]);
            const bool last = l == L - 1;
            T* y = last ? out + r0 * N : next;  // the last layer's rows go straight to out
            for (int i = tid; i < rows * N; i += nt) {
                const int r = i / N, n = i - r * N;
                T acc = T(0);
                for (int k = 0; k < K; ++k) acc += a[r * K + k] * W[(long long)k * N + n];
                if (bias) acc += bias[n];
                unsigned char mk = 0;
                y[i] = m[4] ? acc : act_forward(p, acc, &mk);
            }
            __syncthreads();
            if (m[4]) {  // softmax_forward's rows, 8 at a time, 32 threads across each
                for (int g = 0; g < rows; g += 8) {
                    T* yr = y + (long long)(g + threadIdx.y) * N;
                    gn_softmax_row(red, yr, yr, g + (int)threadIdx.y < rows, N);
                }
                __syncthreads();
            }
            T* swap = a;
            a = next;
            next = swap;
        }
    }
}
