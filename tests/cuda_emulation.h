// A small CUDA emulation so that g++ compiles gpunet's kernels/*.cu unchanged and
// runs them on the CPU with a real launch geometry (see tests/cuda_emulator.py).
//
// - __global__ / __device__ / __forceinline__ become plain (inline) functions;
//   __launch_bounds__ (a register budget for the GPU's compiler) vanishes.
// - blockIdx, threadIdx, blockDim, gridDim are thread-local variables the
//   scheduler sets before it runs each emulated thread.
// - Every emulated thread of a block is a fiber with its own stack;
//   __syncthreads() parks the fiber until every thread of the block has arrived,
//   so it is a real barrier: code after it sees what every thread wrote before it.
//   Fibers run in order of their linear thread id between barriers (in reverse
//   order when the environment variable GN_EMU_REVERSE is 1), so a missing barrier
//   shows up as stale shared-memory reads: a read of what a later thread writes in
//   one order, of what an earlier one writes in the other.
// - __shared__ variables are static thread_local: one copy per OS worker thread,
//   and a worker runs one block at a time, so one copy per running block.
// - A barrier that some thread of the block never reaches (it returned first, or
//   took another branch) is undefined behaviour on a GPU; here the launch fails
//   with a deadlock error instead of hanging.
// - Blocks are spread over a few OS threads; they share nothing but global memory,
//   as on the GPU. atomicAdd is a real atomic read-modify-write (std::atomic_ref)
//   and __threadfence a real fence, so blocks that meet through a counter in
//   global memory (the split reductions) are ordered as on the GPU, and a missing
//   atomic or fence is a data race here too.
#pragma once

#include <math.h>
#include <ucontext.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

namespace gn_emu {

constexpr std::size_t kStackBytes = 64 * 1024;

// Switching fibers: on x86-64 a dozen instructions that swap the callee-saved
// registers and the stack pointer (swapcontext would also make a system call per
// switch to save the signal mask, some 50 times slower); elsewhere ucontext.
#if defined(__x86_64__)
extern "C" void gn_emu_switch(void** save_sp, void* load_sp);
asm(R"(
    .text
    .p2align 4
    .hidden gn_emu_switch
    .globl gn_emu_switch
    .type gn_emu_switch, @function
gn_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size gn_emu_switch, .-gn_emu_switch
)");
struct Context {
    void* sp = nullptr;
};
inline void switch_context(Context& save, Context& load) { gn_emu_switch(&save.sp, load.sp); }
// A fresh stack whose first switch "returns" into entry, as if entry had been called.
inline void make_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
    auto top = reinterpret_cast<std::uintptr_t>(stack + size) & ~std::uintptr_t(15);
    void** sp = reinterpret_cast<void**>(top);
    *--sp = nullptr;                              // entry's own return address: never used
    *--sp = reinterpret_cast<void*>(entry);       // popped by ret
    for (int i = 0; i < 6; ++i) *--sp = nullptr;  // rbp rbx r12-r15
    c.sp = sp;
}
#else
struct Context {
    ucontext_t uc;
};
inline void switch_context(Context& save, Context& load) { swapcontext(&save.uc, &load.uc); }
inline void make_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = stack;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, entry, 0);
}
#endif

struct Fiber {
    Context ctx;
    uint3 tid;
    bool done;
};

// One OS worker's state: the fibers of the block it is running.
struct Block {
    Context scheduler;
    std::vector<Fiber> fibers;
    std::vector<char> stacks;
    void (*body)(void*) = nullptr;
    void* body_arg = nullptr;
    unsigned current = 0;
    unsigned arrived = 0;     // threads waiting at the current barrier
    unsigned generation = 0;  // barriers completed
    unsigned long progress = 0;
    bool reverse = false;     // run fibers from the last thread id to the first
};

inline thread_local Block* g_block = nullptr;

[[noreturn]] inline void fiber_main() {
    Block* b = g_block;
    b->body(b->body_arg);
    Fiber& f = b->fibers[b->current];
    f.done = true;
    ++b->progress;
    switch_context(f.ctx, b->scheduler);  // never resumed
    std::abort();
}

inline void syncthreads() {
    Block* b = g_block;
    const unsigned gen = b->generation;
    ++b->progress;
    if (++b->arrived == b->fibers.size()) {  // the last thread releases the barrier
        b->arrived = 0;
        ++b->generation;
        return;
    }
    while (b->generation == gen) switch_context(b->fibers[b->current].ctx, b->scheduler);
}

// Runs one block; false on a barrier deadlock.
inline bool run_block(Block& b) {
    const unsigned n = b.fibers.size();
    for (unsigned i = 0; i < n; ++i) {
        // Stagger the stack tops: at a fixed 64 KiB stride every fiber's hot frames
        // would fall in the same cache sets.
        make_context(b.fibers[i].ctx, b.stacks.data() + std::size_t(i) * kStackBytes,
                     kStackBytes - (i % 61) * 192, fiber_main);
        b.fibers[i].done = false;
    }
    b.arrived = 0;
    unsigned live = n;
    while (live > 0) {
        const unsigned long before = b.progress;
        live = 0;
        for (unsigned k = 0; k < n; ++k) {
            const unsigned i = b.reverse ? n - 1 - k : k;
            if (b.fibers[i].done) continue;
            b.current = i;
            threadIdx = b.fibers[i].tid;
            switch_context(b.scheduler, b.fibers[i].ctx);
            if (!b.fibers[i].done) ++live;
        }
        if (live > 0 && b.progress == before) return false;  // everyone left is parked for good
    }
    return b.arrived == 0;
}

// CUDA's launch limits; a launch outside them fails on a GPU, so it fails here.
inline int check_geometry(const dim3& g, const dim3& t) {
    if (g.x == 0 || g.y == 0 || g.z == 0 || t.x == 0 || t.y == 0 || t.z == 0) return 2;
    if (g.x > 2147483647u || g.y > 65535u || g.z > 65535u) return 2;
    if (t.x > 1024u || t.y > 1024u || t.z > 64u || std::size_t(t.x) * t.y * t.z > 1024u) return 2;
    return 0;
}

// Runs every block of the grid, split over `workers` OS threads. body(arg) is
// the kernel call of one emulated thread. 0 on success, 1 on a barrier deadlock.
inline int run_grid(dim3 grid, dim3 block, void (*body)(void*), void* arg, int workers) {
    const unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
    const unsigned nthreads = block.x * block.y * block.z;
    std::atomic<unsigned long long> next{0};
    std::atomic<int> status{0};
    const char* order = std::getenv("GN_EMU_REVERSE");
    const bool reverse = order != nullptr && order[0] == '1';
    auto worker = [&]() {
        Block b;
        b.reverse = reverse;
        b.fibers.resize(nthreads);
        b.stacks.resize(std::size_t(nthreads) * kStackBytes);
        b.body = body;
        b.body_arg = arg;
        for (unsigned i = 0; i < nthreads; ++i)
            b.fibers[i].tid = uint3{i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
        g_block = &b;
        blockDim = block;
        gridDim = grid;
        for (unsigned long long k; status.load() == 0 && (k = next.fetch_add(1)) < nblocks;) {
            blockIdx = uint3{unsigned(k % grid.x), unsigned((k / grid.x) % grid.y), unsigned(k / (grid.x * grid.y))};
            if (!run_block(b)) status = 1;
        }
        g_block = nullptr;
    };
    if (workers < 1) workers = 1;
    if ((unsigned long long)workers > nblocks) workers = int(nblocks);
    std::vector<std::thread> pool;
    for (int i = 1; i < workers; ++i) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    return status.load();
}

// The kind of a kernel parameter as the Python side names it: 'p' pointer,
// 'i' / 'I' signed / unsigned integer, 'f' floating point; with its size.
template <typename P>
constexpr char kind_of() {
    if constexpr (std::is_pointer_v<P>) return 'p';
    else if constexpr (std::is_floating_point_v<P>) return 'f';
    else if constexpr (std::is_signed_v<P>) return 'i';
    else return 'I';
}

template <typename... P>
struct Launch {
    void (*kernel)(P...);
    std::tuple<std::decay_t<P>...> args;
    static void body(void* self) {
        auto* l = static_cast<Launch*>(self);
        std::apply(l->kernel, l->args);
    }
};

// Launches `kernel` as cuLaunchKernel would: args[i] points at the value of
// parameter i. kinds / sizes describe what the caller packed; a mismatch with the
// kernel's signature (which on a GPU silently shifts every later parameter) is
// error 3. Returns 0, 1 (deadlock), 2 (bad geometry) or 3 (bad arguments).
template <typename... P, std::size_t... I>
int launch_impl(void (*kernel)(P...), const unsigned* geom, void** args, int nargs, const char* kinds,
                const int* sizes, int workers, std::index_sequence<I...>) {
    constexpr int n = sizeof...(P);
    constexpr char want_kind[] = {kind_of<std::decay_t<P>>()..., 0};
    constexpr int want_size[] = {int(sizeof(std::decay_t<P>))..., 0};
    if (nargs != n) return 3;
    for (int i = 0; i < n; ++i)
        if (want_size[i] != sizes[i] || (want_kind[i] != kinds[i] && !(want_kind[i] == 'p' && kinds[i] == 'I')))
            return 3;  // (an unsigned 64-bit 0 is how callers pass a null pointer, as with CuPy)
    dim3 grid{geom[0], geom[1], geom[2]}, block{geom[3], geom[4], geom[5]};
    if (int bad = check_geometry(grid, block)) return bad;
    Launch<P...> l{kernel, std::tuple<std::decay_t<P>...>(*static_cast<std::decay_t<P>*>(args[I])...)};
    return run_grid(grid, block, &Launch<P...>::body, &l, workers);
}

template <typename... P>
int launch(void (*kernel)(P...), const unsigned* geom, void** args, int nargs, const char* kinds,
           const int* sizes, int workers) {
    return launch_impl(kernel, geom, args, nargs, kinds, sizes, workers, std::index_sequence_for<P...>{});
}

}  // namespace gn_emu

inline void __syncthreads() { gn_emu::syncthreads(); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <typename T>
inline T __ldcg(const T* p) { return *p; }  // an L2-only load on the GPU; memory is coherent here
template <typename I>
inline I atomicAdd(I* address, I value) {
    static_assert(std::is_integral_v<I>, "the emulation has integer atomics only");
    return std::atomic_ref<I>(*address).fetch_add(value, std::memory_order_seq_cst);
}
