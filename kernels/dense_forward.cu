// dense_forward<T>: y = act(x w + b), one launch per Dense layer forward.
//
//   x    (M, K) row-major        w (K, N) row-major       b (N,) or null
//   y    (M, N) row-major, written
//   z    (M, N) row-major or null: receives x w + b (the pre-activation) when the
//        backward pass needs it
//   mask (M, N) uint8 or null: the relu family's mask (see activations.cuh)
//   part (S, M, N), count (ceil(M / 64) ceil(N / 64),) int32: the split-K
//        workspace (null when S = 1); count must be all 0 and is left all 0
//   S    splits of the K reduction (split-K)
//   act, alpha, max_value, threshold, flags: the activation (ActParams)
//
// Launch: block (16, 16); grid (ceil(M / 64), ceil(N / 64), S), block (bx, by, s)
// owning rows 64 bx .. and columns 64 by .. of y (M on x: gridDim.x allows 2^31 - 1
// blocks, y only 65535) and the s-th span of K. With S = 1 the bias add and the
// activation run in the epilogue, on registers, so z never makes a round trip
// through memory unless it is kept. With S > 1 (few tiles, long K: small batches,
// where one block per tile would walk K serially while most SMs idle) each block
// leaves its partial tile in part and the last of the S to finish adds them up
// in order and runs the epilogue (gemm_tile.cuh).
template <typename T>
__global__ void __launch_bounds__(GN_TILE_THREADS)
dense_forward(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b, T* __restrict__ y,
              T* __restrict__ z, unsigned char* __restrict__ mask, T* part, int* count, int M, int N, int K,
              int splits, int act, T alpha, T max_value, T threshold, int flags) {
    __shared__ GemmSmem<T> s;
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const long long row0 = (long long)blockIdx.x * GN_BM;
    const int col0 = blockIdx.y * GN_BM, split = blockIdx.z;
    const int rows = gn_imin(GN_BM, M - row0), cols = gn_imin(GN_BM, N - col0);
    long long k_begin, k_end;
    split_range(K, splits, split, &k_begin, &k_end);
    T acc[4][4] = {};

    tile_walk<true, false>(
        s, k_begin, k_end, rows, cols, tid, true,
        [=](long long k0, int kk, int i) { return x[(row0 + i) * K + k0 + kk]; },
        [=](long long k0, int kk, int j) { return w[(k0 + kk) * N + col0 + j]; }, [&] { tile_mma(s, acc, tx, ty); });

    if (splits > 1) {
        const long long slice = (long long)M * N, origin = row0 * N + col0;
        tile_store_part(acc, part + split * slice + origin, N, rows, cols, tx, ty);
        if (!tile_last_arrival(count + (long long)blockIdx.x * gridDim.y + blockIdx.y, splits, tid)) return;
        tile_gather_parts(acc, part + origin, slice, N, split, splits, rows, cols, tx, ty);
    }

    tile_each(rows, cols, tx, ty, [&](int i, int j, int r, int c) {
        const long long o = (row0 + r) * N + col0 + c;
        T v = acc[i][j] + (b ? b[col0 + c] : T(0));
        if (z) z[o] = v;
        unsigned char m = 0;
        y[o] = act_forward(p, v, &m);
        if (mask) mask[o] = m;
    });
}
