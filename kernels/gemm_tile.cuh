// The tile machinery shared by dense_forward.cu and dense_backward.cu.
//
// A block of 16 x 16 threads computes one 64 x 64 tile of C = A B, walking the
// reduction in chunks of GN_BK = 16. Each chunk stages A and B in shared memory as
//   a[kk][i] = A(i, k0 + kk)   (64 rows i of the tile, transposed)
//   b[kk][j] = B(k0 + kk, j)   (64 columns j of the tile)
// with rows padded to 68 values: 16-byte aligned, so reads vectorize. Thread
// (tx, ty) keeps 4 x 4 outputs in registers: rows 4 ty .. 4 ty + 3 (one 128-bit
// shared read of a per step, a broadcast across the warp) and the column pairs
// 2 tx, 2 tx + 1 and 32 + 2 tx, 33 + 2 tx (two 64-bit reads of b, each 128
// contiguous bytes across the warp's 16 tx), so each step of 16 FMAs costs 3 shared
// reads rather than 8; a warp's stores of a pair cover 128 contiguous bytes.
// tile_row / tile_col are that mapping; everything indexes through them.
//
// Loads take a functor f(kk, i) giving the element at tile-local position (the
// callers bake in the tile origin, the layout and, for dZ, the activation's
// derivative) and write zero outside the matrix, so the multiply needs no bounds.
// KFAST says whether kk (else i) is contiguous in global memory: consecutive
// threads take consecutive addresses, so every load is coalesced.

#define GN_BM 64
#define GN_BK 16
#define GN_LD (GN_BM + 4)
#define GN_TILE_THREADS 256

template <typename T>
struct alignas(16) GemmSmem {
    T a[GN_BK][GN_LD];
    T b[GN_BK][GN_LD];
};

__device__ __forceinline__ int tile_row(int ty, int i) { return 4 * ty + i; }
__device__ __forceinline__ int tile_col(int tx, int j) { return 2 * tx + (j & 1) + 32 * (j >> 1); }

#define GN_PER_THREAD (GN_BK * GN_BM / GN_TILE_THREADS)  // elements of a staged tile each thread moves

// One thread's share of a chunk's tile, fetched from global memory into registers:
// element e = tid + 256 q sits at (kk, i) = (e / 64, e % 64) when i is the fast index
// in global memory, (e % 16, e / 16) when kk is (KFAST). Zero outside the matrix.
template <bool KFAST, typename T, typename F>
__device__ __forceinline__ void fetch_tile(T (&r)[GN_PER_THREAD], int kk_lim, int i_lim, int tid, F f) {
#pragma unroll
    for (int q = 0; q < GN_PER_THREAD; ++q) {
        const int e = tid + q * GN_TILE_THREADS;
        const int kk = KFAST ? e % GN_BK : e / GN_BM, i = KFAST ? e / GN_BK : e % GN_BM;
        r[q] = (kk < kk_lim && i < i_lim) ? f(kk, i) : T(0);
    }
}

template <bool KFAST, typename T>
__device__ __forceinline__ void stage_tile(T (&dst)[GN_BK][GN_LD], const T (&r)[GN_PER_THREAD], int tid) {
#pragma unroll
    for (int q = 0; q < GN_PER_THREAD; ++q) {
        const int e = tid + q * GN_TILE_THREADS;
        dst[KFAST ? e % GN_BK : e / GN_BM][KFAST ? e / GN_BK : e % GN_BM] = r[q];
    }
}

template <typename T>
__device__ __forceinline__ void tile_mma(const GemmSmem<T>& s, T (&acc)[4][4], int tx, int ty) {
#pragma unroll
    for (int kk = 0; kk < GN_BK; ++kk) {
        T a[4], b[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) a[i] = s.a[kk][tile_row(ty, i)];
#pragma unroll
        for (int j = 0; j < 4; ++j) b[j] = s.b[kk][tile_col(tx, j)];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
}

__device__ __forceinline__ int gn_imin(long long a, long long b) { return (int)(a < b ? a : b); }

// Walks a reduction [begin, end) in chunks of GN_BK, software-pipelined: the next
// chunk's global loads are in flight while the current chunk multiplies, so a
// block's chain of chunks costs about one load latency per chunk, not load plus
// multiply. fa(c0, kk, i) / fb(c0, kk, j) give the elements of the chunk starting
// at c0 (a is skipped when use_a is false); body() runs on each staged chunk
// (tile_mma and the like). Every thread of the block must call it.
template <bool A_KFAST, bool B_KFAST, typename T, typename FA, typename FB, typename Body>
__device__ __forceinline__ void tile_walk(GemmSmem<T>& s, long long begin, long long end, int a_lim, int b_lim,
                                          int tid, bool use_a, FA fa, FB fb, Body body) {
    T ra[GN_PER_THREAD], rb[GN_PER_THREAD];
    auto fetch = [&](long long c0) {
        const int kl = gn_imin(GN_BK, end - c0);
        if (use_a) fetch_tile<A_KFAST>(ra, kl, a_lim, tid, [&](int kk, int i) { return fa(c0, kk, i); });
        fetch_tile<B_KFAST>(rb, kl, b_lim, tid, [&](int kk, int j) { return fb(c0, kk, j); });
    };
    if (begin < end) fetch(begin);
    for (long long c0 = begin; c0 < end; c0 += GN_BK) {
        if (use_a) stage_tile<A_KFAST>(s.a, ra, tid);
        stage_tile<B_KFAST>(s.b, rb, tid);
        __syncthreads();
        if (c0 + GN_BK < end) fetch(c0 + GN_BK);
        body();
        __syncthreads();  // before the next chunk overwrites the tiles
    }
}

// ---- splitting a tile's reduction over several blocks, reduced in the same launch ----
//
// S blocks each reduce one part of a tile's reduction (K for y = x w, the batch
// for dW, N for dX). Each writes its partial tile to a workspace of S slices,
// then takes a ticket on the tile's counter; the block that arrives last adds
// the S partials in the fixed order 0 .. S-1 (so the result is the same bit
// for bit whichever block finishes last), runs the epilogue, and resets the
// counter to 0 so the next launch, or graph replay, starts clean. No float
// atomics and no second launch.

// Calls f(i, j, r, c) for each output this thread holds (acc[i][j], at row r and
// column c of the tile) that lies inside the tile's rows x cols.
template <typename F>
__device__ __forceinline__ void tile_each(int rows, int cols, int tx, int ty, F f) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int r = tile_row(ty, i);
        if (r >= rows) continue;
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const int c = tile_col(tx, j);
            if (c < cols) f(i, j, r, c);
        }
    }
}

// This block's partial tile into its slice: part points at the tile's origin in
// the slice, rows of length ld.
template <typename T>
__device__ __forceinline__ void tile_store_part(const T (&acc)[4][4], T* part, long long ld, int rows, int cols,
                                                int tx, int ty) {
    tile_each(rows, cols, tx, ty, [&](int i, int j, int r, int c) { part[r * ld + c] = acc[i][j]; });
}

// Every thread of the block calls this after storing its partials: true (in
// every thread) in the block that arrives last at the tile, which also resets
// the counter. The fence makes this block's partials visible device-wide before
// its ticket is taken; the last block fences again before it reads the others'.
__device__ __forceinline__ bool tile_last_arrival(int* counter, int splits, int tid) {
    __shared__ int last;
    __threadfence();
    __syncthreads();
    if (tid == 0) {
        last = atomicAdd(counter, 1) == splits - 1;
        if (last) *counter = 0;  // every split has arrived: nobody else touches it in this launch
    }
    __syncthreads();
    const bool mine = last;
    if (mine) __threadfence();
    return mine;
}

// The last block: acc = sum over s = 0 .. S-1 of slice s (its own slice from
// registers), in that order. Other blocks' partials are read with ld.global.cg,
// from L2, never from a possibly stale L1 line.
template <typename T>
__device__ __forceinline__ void tile_gather_parts(T (&acc)[4][4], const T* part, long long slice, long long ld,
                                                  int split, int splits, int rows, int cols, int tx, int ty) {
    tile_each(rows, cols, tx, ty, [&](int i, int j, int r, int c) {
        T v = T(0);
        for (int s = 0; s < splits; ++s) v += s == split ? acc[i][j] : __ldcg(part + s * slice + r * ld + c);
        acc[i][j] = v;
    });
}

// The reduction range [begin, end) of split `split` of a reduction of n, cut
// in spans of whole GN_BK chunks (the host picks S so that no span is empty).
__device__ __forceinline__ void split_range(long long n, int splits, int split, long long* begin, long long* end) {
    const long long span = ((n + GN_BK - 1) / GN_BK + splits - 1) / splits * GN_BK;
    *begin = split * span;
    *end = *begin + span < n ? *begin + span : n;
}
