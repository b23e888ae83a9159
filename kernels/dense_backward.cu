// dense_backward<T>: the whole Dense backward in one launch.
//
//   dy   (M, N) row-major     x (M, K) row-major     w (K, N) row-major
//   z, y (M, N) T, mask (M, N) uint8: what the forward kept (null where unused)
//   dw   (K, N) row-major or null (frozen): dW = x^T dZ, written
//   db   (N,) or null: the column sums of dZ, written
//   dx   (M, K) row-major or null: dX = dZ w^T, written
//   Sw   splits of the batch for dW and db: Sw blocks per dW tile each reduce
//        a span of the rows (more blocks when K and N are small but M is long)
//   Sx   splits of N for dX: Sx blocks per dX tile each reduce a span of N
//   dw_part (Sw, K, N), db_part (Sw, N), count_w (tiles of dW,) int32: the dW / db
//        workspace, null when Sw = 1 (or when dw / db is null)
//   dx_part (Sx, M, K), count_x (tiles of dX,) int32: the dX workspace, null when Sx = 1
//   Counters must be all 0 and are left all 0 (gemm_tile.cuh's split reduction:
//   the last block of a tile adds the partials in order, in this launch).
//
// dZ = dy * act'(...) is never stored: each load of a dZ tile recomputes it from
// dy and z / y / mask, which costs a few flops against a round trip of M x N
// values through memory.
//
// Launch: block (16, 16); a flat grid of tiles_w + tiles_x blocks (the host
// computes both; the split is uniform per block, so barriers stay uniform):
//   blocks [0, tiles_w): one 64 x 64 tile of dW each; with tn = ceil(N / 64) and
//     tkn = ceil(K / 64) tn, block t works on split s = t / tkn, tile u = t % tkn at
//     (u / tn, u % tn), reducing over the rows of span s (split_range). tiles_w =
//     Sw tkn, or Sw tn when dw is null but db is not (those blocks only sum dZ).
//     The blocks of the first tile row also sum the columns of the dZ tiles they
//     stage: db for free, in the same pass.
//   blocks [tiles_w, tiles_w + tiles_x): one 64 x 64 tile of dX each, tiles_x =
//     Sx ceil(M / 64) ceil(K / 64) (0 when dx is null): block tiles_w + d works on
//     split d / tmk, tile d % tmk (tmk = ceil(M / 64) ceil(K / 64)), reducing over
//     the columns of span s of N.
template <typename T>
__global__ void __launch_bounds__(GN_TILE_THREADS)
dense_backward(const T* __restrict__ dy, const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ z,
               const T* __restrict__ y, const unsigned char* __restrict__ mask, T* __restrict__ dw,
               T* __restrict__ db, T* __restrict__ dx, T* dw_part, T* db_part, T* dx_part, int* count_w,
               int* count_x, int M, int N, int K, int splits_w, int tiles_w, int splits_x, int act, T alpha,
               T max_value, T threshold, int flags) {
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
        long long m_begin, m_end;
        split_range(M, splits_w, split, &m_begin, &m_end);
        const bool do_db = db && k0 == 0 && ty == 0;
        T dbacc[4] = {T(0), T(0), T(0), T(0)};
        tile_walk<false, false>(
            s, m_begin, m_end, rows, cols, tid, dw != nullptr,
            [=](long long m0, int kk, int i) { return x[(m0 + kk) * K + k0 + i]; },
            [=](long long m0, int kk, int j) { return dz(m0 + kk, n0 + j); }, [&] {
                if (dw) tile_mma(s, acc, tx, ty);
                if (do_db)
                    for (int kk = 0; kk < GN_BK; ++kk)
#pragma unroll
                        for (int j = 0; j < 4; ++j) dbacc[j] += s.b[kk][tile_col(tx, j)];
            });
        if (splits_w > 1) {
            const long long origin = (long long)k0 * N + n0;
            if (dw) tile_store_part(acc, dw_part + split * (long long)K * N + origin, N, rows, cols, tx, ty);
            if (do_db)
#pragma unroll
                for (int j = 0; j < 4; ++j)
                    if (tile_col(tx, j) < cols) db_part[(long long)split * N + n0 + tile_col(tx, j)] = dbacc[j];
            if (!tile_last_arrival(count_w + u, splits_w, tid)) return;
            if (dw) tile_gather_parts(acc, dw_part + origin, (long long)K * N, N, split, splits_w, rows, cols, tx, ty);
            if (do_db) {
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int c = n0 + tile_col(tx, j);
                    if (tile_col(tx, j) >= cols) continue;
                    T v = T(0);
                    for (int q = 0; q < splits_w; ++q)
                        v += q == split ? dbacc[j] : __ldcg(db_part + (long long)q * N + c);
                    dbacc[j] = v;
                }
            }
        }
        if (do_db)
#pragma unroll
            for (int j = 0; j < 4; ++j)
                if (tile_col(tx, j) < cols) db[n0 + tile_col(tx, j)] = dbacc[j];
        if (dw)
            tile_each(rows, cols, tx, ty,
                      [&](int i, int j, int r, int c) { dw[(long long)(k0 + r) * N + n0 + c] = acc[i][j]; });
        return;
    }

    const int tk = (K + GN_BM - 1) / GN_BM;
    const long long tmk = (((long long)M + GN_BM - 1) / GN_BM) * tk, d = t - tiles_w;
    const int split = (int)(d / tmk);
    const long long u = d % tmk;
    const long long m0 = (u / tk) * GN_BM;
    const int k0 = (int)(u % tk) * GN_BM;
    const int rows = gn_imin(GN_BM, M - m0), cols = gn_imin(GN_BM, K - k0);
    long long n_begin, n_end;
    split_range(N, splits_x, split, &n_begin, &n_end);
    tile_walk<true, true>(
        s, n_begin, n_end, rows, cols, tid, true, [=](long long n0, int kk, int i) { return dz(m0 + i, n0 + kk); },
        [=](long long n0, int kk, int j) { return w[(long long)(k0 + j) * N + n0 + kk]; },
        [&] { tile_mma(s, acc, tx, ty); });
    if (splits_x > 1) {
        const long long slice = (long long)M * K, origin = m0 * K + k0;
        tile_store_part(acc, dx_part + split * slice + origin, K, rows, cols, tx, ty);
        if (!tile_last_arrival(count_x + u, splits_x, tid)) return;
        tile_gather_parts(acc, dx_part + origin, slice, K, split, splits_x, rows, cols, tx, ty);
    }
    tile_each(rows, cols, tx, ty,
              [&](int i, int j, int r, int c) { dx[(m0 + r) * K + k0 + c] = acc[i][j]; });
}
