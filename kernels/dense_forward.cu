// dense_forward<T>: y = act(x w + b), one launch per Dense layer forward.
//
//   x    (M, K) row-major        w (K, N) row-major       b (N,) or null
//   y    (M, N) row-major, written
//   z    (M, N) row-major or null: receives x w + b (the pre-activation) when the
//        backward pass needs it
//   mask (M, N) uint8 or null: the relu family's mask (see activations.cuh)
//   act, alpha, max_value, threshold, flags: the activation (ActParams)
//
// Launch: block (16, 16); grid (ceil(M / 64), ceil(N / 64)), block (bx, by)
// owning rows 64 bx .. and columns 64 by .. of y (M on x: gridDim.x allows 2^31 - 1
// blocks, y only 65535). The bias add and the activation run in the epilogue, on
// registers, so z never makes a round trip through memory unless it is kept.
template <typename T>
__global__ void __launch_bounds__(GN_TILE_THREADS)
dense_forward(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b, T* __restrict__ y,
              T* __restrict__ z, unsigned char* __restrict__ mask, int M, int N, int K, int act, T alpha,
              T max_value, T threshold, int flags) {
    __shared__ GemmSmem<T> s;
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const long long row0 = (long long)blockIdx.x * GN_BM;
    const int col0 = blockIdx.y * GN_BM;
    const int rows = gn_imin(GN_BM, M - row0), cols = gn_imin(GN_BM, N - col0);
    T acc[4][4] = {};

    for (int k0 = 0; k0 < K; k0 += GN_BK) {
        const int kl = gn_imin(GN_BK, K - k0);
        load_kfast(s.a, kl, rows, tid, [=](int kk, int i) { return x[(row0 + i) * K + k0 + kk]; });
        load_ifast(s.b, kl, cols, tid, [=](int kk, int j) { return w[(long long)(k0 + kk) * N + col0 + j]; });
        __syncthreads();
        tile_mma(s, acc, tx, ty);
        __syncthreads();  // before the next chunk overwrites the tiles
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int r = ty + 16 * i;
        if (r >= rows) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = tx + 16 * j;
            if (c >= cols) continue;
            const long long o = (row0 + r) * N + col0 + c;
            T v = acc[i][j] + (b ? b[col0 + c] : T(0));
            if (z) z[o] = v;
            unsigned char m = 0;
            y[o] = act_forward(p, v, &m);
            if (mask) mask[o] = m;
        }
    }
}
