// dense_backward<T>: the whole Dense backward in one launch.
//
//   dy   (M, N) row-major     x (M, K) row-major     w (K, N) row-major
//   z, y (M, N) T, mask (M, N) uint8: what the forward kept (null where unused)
//   dw   (S, K, N) row-major or null (frozen): dw[s] = x[rows of s]^T dZ[rows of s]
//   db   (S, N) or null: db[s] = the column sums of dZ[rows of s]
//   dx   (M, K) row-major or null: dX = dZ w^T, written
//   S    splits of the batch for dW and db: with S = 1, dw and db are the
//        gradients themselves; else the host sums the S partial slices (a tiny
//        second pass that buys S times more blocks for the dW reduction, whose
//        output has few tiles when K and N are small but M is long)
//   tiles_w: number of leading blocks working on dW (see below)
//
// dZ = dy * act'(...) is never stored: each load of a dZ tile recomputes it from
// dy and z / y / mask, which costs a few flops against a round trip of M x N
// values through memory.
//
// Launch: block (16, 16); a flat grid of tiles_w + tiles_x blocks (the host
// computes both; the split is uniform per block, so barriers stay uniform):
//   blocks [0, tiles_w): one 64 x 64 tile of dw[s] each; with tn = ceil(N / 64) and
//     tkn = ceil(K / 64) tn, block t works on split s = t / tkn, tile u = t % tkn at
//     (u / tn, u % tn), reducing over the rows [s R, s R + R) with R =
//     16 ceil(ceil(M / 16) / S). tiles_w = S tkn, or S tn when dw is null but db is
//     not. The blocks of the first tile row also sum the columns of the dZ tiles
//     they stage: db for free, in the same pass.
//   blocks [tiles_w, tiles_w + tiles_x): one 64 x 64 tile of dX each,
//     tiles_x = ceil(M / 64) ceil(K / 64) (0 when dx is null), reducing over N.
template <typename T>
__global__ void __launch_bounds__(GN_TILE_THREADS)
dense_backward(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ z,
               const T* __restrict__ y, const unsigned char* __restrict__ mask, T* __restrict__ dw,
               T* __restrict__ db, T* __restrict__ dx, int M, int N, int K, int splits, int tiles_w, int act,
               T alpha, T max_value, T threshold, int flags) {
    __shared__ GemmSmem<T> s;
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const int t = blockIdx.x;
    auto dz = [=](long long m, int n) {
        const long long o = m * N + n;
        return act_backward(p, dy[o], z, y, mask, o);
    };
    T acc[4][4] = {};

    if (t < tiles_w) {
        const int tn = (N + GN_BM - 1) / GN_BM;
        const int tkn = dw ? ((K + GN_BM - 1) / GN_BM) * tn : tn;
        const int split = t / tkn, u = t % tkn;
        const int k0 = (u / tn) * GN_BM, n0 = (u % tn) * GN_BM;
        const int rows = gn_imin(GN_BM, K - k0), cols = gn_imin(GN_BM, N - n0);
        const long long span = (((long long)M + GN_BK - 1) / GN_BK + splits - 1) / splits * GN_BK;
        const long long m_begin = split * span, m_end = m_begin + span < M ? m_begin + span : M;
        const bool do_db = db && k0 == 0 && ty == 0;
        if (dw) dw += (long long)split * K * N;
        if (db) db += (long long)split * N;
        T dbacc[4] = {T(0), T(0), T(0), T(0)};
        for (long long m0 = m_begin; m0 < m_end; m0 += GN_BK) {
            const int ml = gn_imin(GN_BK, m_end - m0);
            load_ifast(s.a, ml, rows, tid, [=](int kk, int i) { return x[(m0 + kk) * K + k0 + i]; });
            load_ifast(s.b, ml, cols, tid, [=](int kk, int j) { return dz(m0 + kk, n0 + j); });
            __syncthreads();
            tile_mma(s, acc, tx, ty);
            if (do_db)
                for (int kk = 0; kk < GN_BK; ++kk)
#pragma unroll
                    for (int j = 0; j < 4; ++j) dbacc[j] += s.b[kk][tx + 16 * j];
            __syncthreads();
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = tx + 16 * j;
            if (c >= cols) continue;
            if (do_db) db[n0 + c] = dbacc[j];
            if (!dw) continue;
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int r = ty + 16 * i;
                if (r < rows) dw[(long long)(k0 + r) * N + n0 + c] = acc[i][j];
            }
        }
        return;
    }

    const int tk = (K + GN_BM - 1) / GN_BM;
    const long long m0 = (long long)((t - tiles_w) / tk) * GN_BM;
    const int k0 = ((t - tiles_w) % tk) * GN_BM;
    const int rows = gn_imin(GN_BM, M - m0), cols = gn_imin(GN_BM, K - k0);
    for (int n0 = 0; n0 < N; n0 += GN_BK) {
        const int nl = gn_imin(GN_BK, N - n0);
        load_kfast(s.a, nl, rows, tid, [=](int kk, int i) { return dz(m0 + i, n0 + kk); });
        load_kfast(s.b, nl, cols, tid, [=](int kk, int j) { return w[(long long)(k0 + j) * N + n0 + kk]; });
        __syncthreads();
        tile_mma(s, acc, tx, ty);
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int r = ty + 16 * i;
        if (r >= rows) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = tx + 16 * j;
            if (c < cols) dx[(m0 + r) * K + k0 + c] = acc[i][j];
        }
    }
}
