// Math for every kernel module (cuda_kernels.py puts this text first).
//
// NVRTC ships no toolkit headers, so kernels reach math only through these
// overloads on float and double, which name builtin device functions only (and
// the C library's functions of the same names under the CPU emulation).

__device__ __forceinline__ float gn_exp(float v) { return expf(v); }
__device__ __forceinline__ double gn_exp(double v) { return exp(v); }
__device__ __forceinline__ float gn_expm1(float v) { return expm1f(v); }
__device__ __forceinline__ double gn_expm1(double v) { return expm1(v); }
__device__ __forceinline__ float gn_log(float v) { return logf(v); }
__device__ __forceinline__ double gn_log(double v) { return log(v); }
__device__ __forceinline__ float gn_log1p(float v) { return log1pf(v); }
__device__ __forceinline__ double gn_log1p(double v) { return log1p(v); }
__device__ __forceinline__ float gn_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ double gn_tanh(double v) { return tanh(v); }
__device__ __forceinline__ float gn_erfc(float v) { return erfcf(v); }
__device__ __forceinline__ double gn_erfc(double v) { return erfc(v); }
__device__ __forceinline__ float gn_sqrt(float v) { return sqrtf(v); }
__device__ __forceinline__ double gn_sqrt(double v) { return sqrt(v); }
__device__ __forceinline__ float gn_pow(float a, float b) { return powf(a, b); }
__device__ __forceinline__ double gn_pow(double a, double b) { return pow(a, b); }
__device__ __forceinline__ float gn_abs(float v) { return fabsf(v); }
__device__ __forceinline__ double gn_abs(double v) { return fabs(v); }
// NaN in either operand gives NaN, as numpy.maximum / minimum (and PyTorch, TensorFlow)
// do; CUDA's fmaxf / fminf and a bare a > b ? a : b would drop it.
template <typename T> __device__ __forceinline__ T gn_max(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T gn_min(T a, T b) { return (a < b || a != a) ? a : b; }
// The most negative finite value: a start for running maxima (INFINITY needs a header).
template <typename T> __device__ __forceinline__ T gn_lowest();
template <> __device__ __forceinline__ float gn_lowest<float>() { return -3.402823466e+38f; }
template <> __device__ __forceinline__ double gn_lowest<double>() { return -1.7976931348623157e+308; }
