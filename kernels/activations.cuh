// Activations for the fused Dense kernels, shared by every kernel of the "dense"
// module (gpunet/backend/cuda_kernels.py puts this text in front of each .cu).
//
// Everything is elementwise on one value of T (float or double), with the math
// of gn_math.cuh.
//
// Codes must match ACT_CODES in gpunet/backend/cuda_kernels.py. leaky_relu and
// relu6 arrive as GN_RELU with alpha / max_value set (the same math).
//
// What the backward pass reads (chosen by the launcher, see aux_kind there):
//   relu family     a uint8 mask per element: bit 0 = (z > threshold),
//                   bit 1 = not clipped at max_value (4x less memory than z);
//   sigmoid, tanh,  the output y;
//   exponential
//   linear          nothing;
//   the others      the pre-activation z.

#define GN_LINEAR 0
#define GN_RELU 1
#define GN_SIGMOID 2
#define GN_HARD_SIGMOID 3
#define GN_TANH 4
#define GN_ELU 5
#define GN_SELU 6
#define GN_SOFTPLUS 7
#define GN_SOFTSIGN 8
#define GN_SWISH 9
#define GN_GELU 10
#define GN_EXPONENTIAL 11

// flags bits
#define GN_HAS_MAX 1      // relu: max_value given
#define GN_APPROXIMATE 2  // gelu: tanh approximation

template <typename T>
struct ActParams {
    int code;
    T alpha;      // relu negative slope, elu alpha
    T max_value;  // relu clip (when flags & GN_HAS_MAX)
    T threshold;  // relu threshold
    int flags;
};

template <typename T> __device__ __forceinline__ T gn_sigmoid(T v) { return T(1) / (T(1) + gn_exp(-v)); }

#define GN_SELU_ALPHA 1.6732632423543772848170429916717
#define GN_SELU_SCALE 1.0507009873554804934193349852946
#define GN_SQRT_2_OVER_PI 0.7978845608028654
#define GN_INV_SQRT_2 0.7071067811865476
#define GN_INV_SQRT_2PI 0.3989422804014327
#define GN_GELU_C 0.044715

// y = act(z); for the relu family also the mask the backward pass reads.
template <typename T>
__device__ __forceinline__ T act_forward(const ActParams<T>& p, T z, unsigned char* mask) {
    switch (p.code) {
    case GN_RELU: {
        bool pos = z > p.threshold;
        T y = pos ? z : p.alpha * (z - p.threshold);
        bool open = true;
        if (p.flags & GN_HAS_MAX) {
            open = y < p.max_value;
            y = open ? y : p.max_value;
        }
        *mask = (unsigned char)((pos ? 1 : 0) | (open ? 2 : 0));
        return y;
    }
    case GN_SIGMOID: return gn_sigmoid(z);
    case GN_HARD_SIGMOID: return gn_min(gn_max(T(0.2) * z + T(0.5), T(0)), T(1));
    case GN_TANH: return gn_tanh(z);
    case GN_ELU: return z > T(0) ? z : p.alpha * (gn_exp(z) - T(1));
    case GN_SELU: return T(GN_SELU_SCALE) * (z > T(0) ? z : T(GN_SELU_ALPHA) * (gn_exp(z) - T(1)));
    case GN_SOFTPLUS: return gn_max(z, T(0)) + gn_log1p(gn_exp(-gn_abs(z)));  // no overflow for large z
    case GN_SOFTSIGN: return z / (T(1) + gn_abs(z));
    case GN_SWISH: return z * gn_sigmoid(z);
    case GN_GELU:
        if (p.flags & GN_APPROXIMATE)
            return T(0.5) * z * (T(1) + gn_tanh(T(GN_SQRT_2_OVER_PI) * (z + T(GN_GELU_C) * z * z * z)));
        return T(0.5) * z * (T(1) + gn_erf(z * T(GN_INV_SQRT_2)));
    case GN_EXPONENTIAL: return gn_exp(z);
    default: return z;  // GN_LINEAR
    }
}

// dz = dy * act'(z), reading whichever of z, y, mask the activation keeps.
template <typename T>
__device__ __forceinline__ T act_backward(const ActParams<T>& p, T dy, const T* z, const T* y,
                                          const unsigned char* mask, long long i) {
    switch (p.code) {
    case GN_RELU: {
        unsigned char m = mask[i];
        return (m & 2) ? ((m & 1) ? dy : dy * p.alpha) : T(0);
    }
    case GN_SIGMOID: { T s = y[i]; return dy * s * (T(1) - s); }
    case GN_HARD_SIGMOID: { T v = z[i]; return (v > T(-2.5) && v < T(2.5)) ? dy * T(0.2) : T(0); }
    case GN_TANH: { T t = y[i]; return dy * (T(1) - t * t); }
    case GN_ELU: { T v = z[i]; return v > T(0) ? dy : dy * p.alpha * gn_exp(v); }
    case GN_SELU: {
        T v = z[i];
        return dy * T(GN_SELU_SCALE) * (v > T(0) ? T(1) : T(GN_SELU_ALPHA) * gn_exp(v));
    }
    case GN_SOFTPLUS: return dy * gn_sigmoid(z[i]);
    case GN_SOFTSIGN: { T d = T(1) + gn_abs(z[i]); return dy / (d * d); }
    case GN_SWISH: { T v = z[i], s = gn_sigmoid(v); return dy * (s + v * s * (T(1) - s)); }
    case GN_GELU: {
        T v = z[i];
        if (p.flags & GN_APPROXIMATE) {
            T t = gn_tanh(T(GN_SQRT_2_OVER_PI) * (v + T(GN_GELU_C) * v * v * v));
            T dt = T(GN_SQRT_2_OVER_PI) * (T(1) + T(3 * GN_GELU_C) * v * v);
            return dy * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * dt);
        }
        return dy * (T(0.5) * (T(1) + gn_erf(v * T(GN_INV_SQRT_2))) + v * gn_exp(T(-0.5) * v * v) * T(GN_INV_SQRT_2PI));
    }
    case GN_EXPONENTIAL: return dy * y[i];
    default: return dy;
    }
}
