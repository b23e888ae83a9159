// The tile machinery shared by dense_forward.cu and dense_backward.cu.
//
// A block of 16 x 16 threads computes one 64 x 64 tile of C = A B, walking the
// reduction in chunks of GN_BK = 16. Each chunk stages A and B in shared memory as
//   a[kk][i] = A(i, k0 + kk)   (64 rows i of the tile, transposed)
//   b[kk][j] = B(k0 + kk, j)   (64 columns j of the tile)
// with one spare column so that transposing stores hit distinct banks. Thread
// (tx, ty) keeps the 4 x 4 outputs (ty + 16 i, tx + 16 j) in registers: strided
// rather than contiguous so a warp's stores coalesce and its shared reads of b are
// conflict-free (a is a broadcast).
//
// Loaders take a functor f(kk, i) giving the element at tile-local position (the
// callers bake in the tile origin, the layout and, for dZ, the activation's
// derivative) and write zero outside the matrix, so the multiply needs no bounds.
// "ifast" / "kfast" says which index is contiguous in global memory: consecutive
// threads take consecutive addresses, so every load is coalesced.

#define GN_BM 64
#define GN_BK 16
#define GN_TILE_THREADS 256

template <typename T>
struct GemmSmem {
    T a[GN_BK][GN_BM + 1];
    T b[GN_BK][GN_BM + 1];
};

template <typename T, typename F>
__device__ __forceinline__ void load_ifast(T (&dst)[GN_BK][GN_BM + 1], int kk_lim, int i_lim, int tid, F f) {
    for (int e = tid; e < GN_BK * GN_BM; e += GN_TILE_THREADS) {
        int kk = e / GN_BM, i = e % GN_BM;
        dst[kk][i] = (kk < kk_lim && i < i_lim) ? f(kk, i) : T(0);
    }
}

template <typename T, typename F>
__device__ __forceinline__ void load_kfast(T (&dst)[GN_BK][GN_BM + 1], int kk_lim, int i_lim, int tid, F f) {
    for (int e = tid; e < GN_BK * GN_BM; e += GN_TILE_THREADS) {
        int kk = e % GN_BK, i = e / GN_BK;
        dst[kk][i] = (kk < kk_lim && i < i_lim) ? f(kk, i) : T(0);
    }
}

template <typename T>
__device__ __forceinline__ void tile_mma(const GemmSmem<T>& s, T (&acc)[4][4], int tx, int ty) {
#pragma unroll
    for (int kk = 0; kk < GN_BK; ++kk) {
        T a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = s.a[kk][ty + 16 * i];
#pragma unroll
        for (int j = 0; j < 4; ++j) b[j] = s.b[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
}

__device__ __forceinline__ int gn_imin(long long a, long long b) { return (int)(a < b ? a : b); }
