// What an optimizer does to the gradients and weights before its update, inside the GPU step
// plan (gpunet/backend/gpu_grad_transforms.py): Keras's clipvalue, clipnorm and global_clipnorm,
// and Keras 3's decoupled weight decay (AdamW, or any optimizer's weight_decay). Each runs in
// place over the flat gradient (or parameter) buffer, as gpunet/backend/optimizer_ops.py
// computes it, NaN and inf included (a NaN norm makes every gradient of its segment NaN).

// g = clip(g, -c, c); NaN stays NaN (as numpy.clip). Launch: block 256, 1-D grid-stride grid.
template <typename T>
__global__ void clip_value(T* g, long long n, T c) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T v = g[i];
        g[i] = v < -c ? -c : (v > c ? c : v);
    }
}

// The norm clip of segments of g (one per weight for clipnorm; the whole buffer for
// global_clipnorm), in two launches over the same blocks. ``blocks`` holds 4 int64 per block:
// its segment's [lo, hi), the block's position j within the segment and the segment's block
// count nb; the segment's blocks are consecutive, so the first is blockIdx.x - j. Block j of a
// segment takes elements lo + j * 256 + threadIdx.x, then every nb * 256 on.
// Launch (both): block 256, grid = the number of blocks in ``blocks``.

// partial[block] = the sum of the squares of the block's elements (no atomics: a run repeats
// bit for bit).
template <typename T>
__global__ void segment_sum_squares(const T* g, const long long* blocks, T* partial) {
    __shared__ T red[256];
    const long long* b = blocks + 4 * (long long)blockIdx.x;
    const long long lo = b[0], hi = b[1], j = b[2], nb = b[3];
    T acc = T(0);
    for (long long i = lo + j * blockDim.x + threadIdx.x; i < hi; i += nb * blockDim.x) acc += g[i] * g[i];
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int half = 128; half > 0; half >>= 1) {
        if (threadIdx.x < half) red[threadIdx.x] += red[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = red[0];
}

// g *= c / max(sqrt(sum of the segment's partials), c). Every block of a segment sums its
// partials (up to 8 per SM) the same way, a strided share per thread then a tree, so all of
// them scale by the same factor.
template <typename T>
__global__ void segment_clip_norm(T* g, const long long* blocks, const T* partial, T c) {
    __shared__ T red[256];
    const long long* b = blocks + 4 * (long long)blockIdx.x;
    const long long lo = b[0], hi = b[1], j = b[2], nb = b[3];
    const T* mine = partial + (blockIdx.x - j);
    T acc = T(0);
    for (long long k = threadIdx.x; k < nb; k += blockDim.x) acc += mine[k];
    red[threadIdx.x] = acc;
    __syncthreads();
    for (int half = 128; half > 0; half >>= 1) {
        if (threadIdx.x < half) red[threadIdx.x] += red[threadIdx.x + half];
        __syncthreads();
    }
    const T s = c / gn_max(gn_sqrt(red[0]), c);
    for (long long i = lo + j * blockDim.x + threadIdx.x; i < hi; i += nb * blockDim.x) g[i] *= s;
}

// Decoupled weight decay before the update: without a mask p *= keep, keep = 1 - lr * weight_decay
// folded on the host; with one (0 where a weight is excluded) p -= (mask * rate) * p, rate =
// lr * weight_decay; as optimizer_ops.apply_weight_decay rounds them. ``factors`` non-null: the
// factor is factors[*index], the step's entry of a per-step table (a captured step replays with
// each step's learning rate). Launch: block 256, 1-D grid-stride grid.
template <typename T>
__global__ void weight_decay(T* p, long long n, const T* mask, T factor, const T* factors, const long long* index) {
    if (factors) factor = factors[*index];
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        if (mask) p[i] -= (mask[i] * factor) * p[i];
        else p[i] *= factor;
    }
}
