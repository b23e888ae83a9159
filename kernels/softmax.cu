// Row-wise softmax for Dense(activation="softmax"): the GEMM writes x w + b, then
//
// softmax_forward<T>: y[m, :] = exp(x[m, :] - max) / sum(exp(x[m, :] - max)).
//   x, y (M, N) row-major; y may be x (in place: each element is read and then
//   written by the same thread, after the row's reductions).
// softmax_backward<T>: dz[m, :] = y[m, :] (dy[m, :] - sum(dy[m, :] y[m, :])).
//   dy, y, dz (M, N) row-major; dz may be dy.
// Launch (both): block (32, 8): 8 rows at a time, 32 threads across each row;
// grid min(ceil(M / 8), 8 SMs), grid-stride over groups of 8 rows. The loop bound
// is the same for every thread of a block, so the barriers inside stay uniform.

// Reduces v over the 32 threads of this row (threadIdx.y); every thread of the
// block must call it. Lane 0 combines the row's 32 values and leaves the result
// in the spare column 32: two barriers per reduction rather than a tree's six.
// One buffer serves consecutive reductions without a third barrier: the next
// call's stores go to columns 0..31, and column 32 is rewritten only after the
// next call's first barrier, which every thread reaches after reading it.
template <typename T, bool IS_MAX>
__device__ __forceinline__ T row_reduce(T (&red)[8][33], T v) {
    const int tx = threadIdx.x, ty = threadIdx.y;
    red[ty][tx] = v;
    __syncthreads();
    if (tx == 0) {
        T acc = red[ty][0];
        for (int i = 1; i < 32; ++i) acc = IS_MAX ? gn_max(acc, red[ty][i]) : acc + red[ty][i];
        red[ty][32] = acc;
    }
    __syncthreads();
    return red[ty][32];
}

// This thread's row of a group of 8 (live: a real row): its max into *mx, and the sum of
// exp(x - max) returned; every thread of the block calls it. Shared with loss.cu's softmax losses.
template <typename T>
__device__ __forceinline__ T gn_row_exp_sum(T (&red)[8][33], const T* xr, bool live, int N, T* mx) {
    T m = gn_lowest<T>();
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) m = gn_max(m, xr[c]);
    m = row_reduce<T, true>(red, m);
    T sum = T(0);
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) sum += gn_exp(xr[c] - m);
    *mx = m;
    return row_reduce<T, false>(red, sum);
}

// This thread's row of a group of 8 softmaxed; yr may be xr. Shared with mlp_forward.cu.
template <typename T>
__device__ __forceinline__ void gn_softmax_row(T (&red)[8][33], const T* xr, T* yr, bool live, int N) {
    T mx;
    const T sum = gn_row_exp_sum(red, xr, live, N, &mx);
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) yr[c] = gn_exp(xr[c] - mx) / sum;
}

template <typename T>
__global__ void softmax_forward(const T* x, T* y, int M, int N) {
    __shared__ T red[8][33];
    for (long long r0 = (long long)blockIdx.x * 8; r0 < M; r0 += (long long)gridDim.x * 8) {
        const long long r = r0 + threadIdx.y;
        gn_softmax_row(red, x + r * N, y + r * N, r < M, N);
    }
}

// This thread's row of a group of 8: dzr = yr (dyr - sum(dyr yr)); dzr may be dyr. Every thread
// of the block calls it. Shared with mlp_step.cu's softmax layers.
template <typename T>
__device__ __forceinline__ void gn_softmax_backward_row(T (&red)[8][33], const T* dyr, const T* yr, T* dzr,
                                                        bool live, int N) {
    T dot = T(0);
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) dot += dyr[c] * yr[c];
    dot = row_reduce<T, false>(red, dot);
    if (live)
        for (int c = threadIdx.x; c < N; c += 32) dzr[c] = yr[c] * (dyr[c] - dot);
}

template <typename T>
__global__ void softmax_backward(const T* dy, const T* __restrict__ y, T* dz, int M, int N) {
    __shared__ T red[8][33];
    for (long long r0 = (long long)blockIdx.x * 8; r0 < M; r0 += (long long)gridDim.x * 8) {
        const long long r = r0 + threadIdx.y;
        gn_softmax_backward_row(red, dy + r * N, y + r * N, dz + r * N, r < M, N);
    }
}
