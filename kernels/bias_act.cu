// The cuBLAS path: the GEMM runs in cupy.matmul and these kernels add what the
// fused kernels do in their epilogue / loads.
//
// bias_act<T>: y = act(y + b) in place.
//   y    (M, N) row-major, total = M N elements: the matmul output, overwritten
//   b    (N,) or null;  z (M, N) or null: receives y + b;  mask (M, N) uint8 or null
// Launch: block 256, 1-D grid min(ceil(total / 256), 8 SMs), grid-stride loop.
template <typename T>
__global__ void bias_act(T* __restrict__ y, const T* __restrict__ b, T* __restrict__ z,
                         unsigned char* __restrict__ mask, long long total, int N, int act, T alpha,
                         T max_value, T threshold, int flags) {
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long o = (long long)blockIdx.x * blockDim.x + threadIdx.x; o < total; o += stride) {
        T v = y[o] + (b ? b[o % N] : T(0));
        if (z) z[o] = v;
        unsigned char m = 0;
        y[o] = act_forward(p, v, &m);
        if (mask) mask[o] = m;
    }
}

// act_backward_db<T>: dz = dy * act'(...), and the column sums of dz for db.
//   dy, dz (M, N) row-major (dz may be dy: each element is read before it is written
//   by the same thread);  z, y (M, N) T, mask (M, N) uint8: what the forward kept
//   db_part (G, N) or null: db_part[g, n] = sum of dz[m, n] over the rows m that
//   block row g visits; the host sums the G rows (G = 1 writes db directly).
// Launch: block (32, 8); grid (ceil(N / 32), G). Block (bx, by) owns columns
// 32 bx + tx (a warp reads 32 consecutive values of a row: coalesced) and rows
// 8 by + ty, stepping 8 G; the 8 partial sums per column meet in shared memory.
template <typename T>
__global__ void act_backward_db(const T* dy, const T* __restrict__ z, const T* __restrict__ y,
                                const unsigned char* __restrict__ mask, T* dz, T* __restrict__ db_part,
                                int M, int N, int act, T alpha, T max_value, T threshold, int flags) {
    __shared__ T part[8][33];
    const ActParams<T> p = {act, alpha, max_value, threshold, flags};
    const int n = blockIdx.x * 32 + threadIdx.x;
    T sum = T(0);
    if (n < N) {
        for (long long m = (long long)blockIdx.y * 8 + threadIdx.y; m < M; m += (long long)gridDim.y * 8) {
            const long long o = m * N + n;
            T v = act_backward(p, dy[o], z, y, mask, o);
            dz[o] = v;
            sum += v;
        }
    }
    if (!db_part) return;  // uniform across the grid: no thread waits below
    part[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && n < N) {
        for (int r = 1; r < 8; ++r) sum += part[r][threadIdx.x];
        db_part[(long long)blockIdx.y * N + n] = sum;
    }
}
