// Activations for the fused Dense kernels, shared by every kernel of the "dense"
// module (gpunet/backend/cuda_kernels.py puts this text in front of each .cu).
//
// Everything is elementwise on one value of T (float or double), with the math
// of gn_math.cuh. The formulas are those of the reference, ActivationOps in
// gpunet/backend/activation_ops.py (Keras 2's), written in the same order so the
// two round alike.
//
// Codes must match ACT_CODES in gpunet/backend/cuda_kernels.py.
//
// What the backward pass reads (the launcher's ActSpec.keep says what the
// forward stores; the output y is kept by the layer anyway):
//   relu, leaky_relu, relu6        a uint8 mask per element (4x less memory than z):
//                                  bit 0 = gradient passes, bit 1 = negative slope
//   sigmoid, hard_sigmoid, tanh,   y alone
//   softplus, selu, exponential
//   elu                            the pre-activation z (its sign) and y
//   softsign, swish, gelu, mish    z
//   linear                         nothing

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
#define GN_LEAKY_RELU 12
#define GN_RELU6 13
#define GN_MISH 14

// flags bits
#define GN_HAS_MAX 1      // relu: max_value given
#define GN_APPROXIMATE 2  // gelu: tanh approximation

template <typename T>
struct ActParams {
    int code;
    T alpha;      // relu / leaky_relu negative slope, elu alpha
    T max_value;  // relu clip (when flags & GN_HAS_MAX)
    T threshold;  // relu threshold
    int flags;
};

#define GN_SELU_ALPHA 1.6732632423543772848170429916717
#define GN_SELU_SCALE 1.0507009873554804934193349852946
#define GN_SQRT_2_OVER_PI 0.79788456080286535588
#define GN_INV_SQRT_2 0.70710678118654752440
#define GN_INV_SQRT_2PI 0.39894228040143267794

template <typename T> __device__ __forceinline__ T gn_sigmoid(T v) { return T(1) / (gn_exp(-v) + T(1)); }
// log(1 + exp(v)) without overflow, as numpy.logaddexp(v, 0)
template <typename T> __device__ __forceinline__ T gn_softplus(T v) { return gn_max(v, T(0)) + gn_log1p(gn_exp(-gn_abs(v))); }

// y = act(z); for the relu family also the mask the backward pass reads.
template <typename T>
__device__ __forceinline__ T act_forward(const ActParams<T>& p, T z, unsigned char* mask) {
    switch (p.code) {
    case GN_RELU: {
        // The reference's formulas (ActivationOps.relu), so NaN and inf come out where
        // they do there: maximum(z, 0) with the default parameters (NaN stays NaN),
        // else Keras's z (z > threshold), clipped to [0, max_value], minus
        // alpha (threshold - z)+ (z (z > threshold) is NaN for z = NaN or -inf).
        const bool plain = p.alpha == T(0) && p.threshold == T(0);
        T y = plain ? gn_max(z, T(0)) : z * T(z > p.threshold ? 1 : 0);
        bool pass = z > p.threshold;
        if (p.flags & GN_HAS_MAX) {
            y = gn_min(gn_max(y, T(0)), p.max_value);
            // the clip passes gradient inside [0, max], except tf-keras's relu6 (max 6, threshold 0)
            const bool relu6 = p.max_value == T(6) && p.threshold == T(0);
            pass = pass && z >= T(0) && (relu6 ? z < p.max_value : z <= p.max_value);
        }
        if (p.alpha != T(0)) y -= gn_max(p.threshold - z, T(0)) * p.alpha;
        // alpha alone is tf.nn.leaky_relu in tf-keras: the negative slope at 0 too
        const bool leaky = p.alpha != T(0) && !(p.flags & GN_HAS_MAX) && p.threshold == T(0);
        *mask = (unsigned char)((pass ? 1 : 0) | ((leaky ? z <= T(0) : z < p.threshold) ? 2 : 0));
        return y;
    }
    case GN_LEAKY_RELU: *mask = (unsigned char)(z > T(0) ? 1 : 2); return z > T(0) ? z : z * p.alpha;
    case GN_RELU6: *mask = (unsigned char)(z > T(0) && z < T(6) ? 1 : 0); return gn_min(gn_max(z, T(0)), T(6));
    case GN_SIGMOID: return gn_sigmoid(z);
    case GN_HARD_SIGMOID: return gn_min(gn_max(z * T(0.2) + T(0.5), T(0)), T(1));
    case GN_TANH: return gn_tanh(z);
    case GN_ELU: return gn_expm1(gn_min(z, T(0))) * p.alpha + gn_max(z, T(0));
    case GN_SELU: return (gn_expm1(gn_min(z, T(0))) * T(GN_SELU_ALPHA) + gn_max(z, T(0))) * T(GN_SELU_SCALE);
    case GN_SOFTPLUS: return gn_softplus(z);
    case GN_SOFTSIGN: return z / (gn_abs(z) + T(1));
    case GN_SWISH: return gn_sigmoid(z) * z;
    case GN_GELU:
        if (p.flags & GN_APPROXIMATE)
            return (gn_tanh(T(GN_SQRT_2_OVER_PI) * (z + T(0.044715) * (z * z * z))) + T(1)) * z * T(0.5);
        return gn_erfc(z * T(-GN_INV_SQRT_2)) * z * T(0.5);  // 1 + erf(z / sqrt 2), exact in the left tail
    case GN_EXPONENTIAL: return gn_exp(z);
    case GN_MISH: return gn_tanh(gn_softplus(z)) * z;
    default: return z;  // GN_LINEAR
    }
}

// dz = dy * act'(z), reading whichever of z, y, mask the activation keeps.
template <typename T>
__device__ __forceinline__ T act_backward(const ActParams<T>& p, T dy, const T* z, const T* y,
                                          const unsigned char* mask, long long i) {
    switch (p.code) {
    // The masked gradients multiply by 0 or 1 rather than pick 0, as the reference
    // does: a NaN or inf dy gives NaN where the gradient is cut, there as here.
    case GN_RELU: {
        const unsigned char m = mask[i];
        T d = dy * T(m & 1);
        if (p.alpha != T(0)) d += dy * p.alpha * T((m >> 1) & 1);
        return d;
    }
    case GN_LEAKY_RELU: return (mask[i] & 1) ? dy : dy * p.alpha;
    case GN_RELU6: return dy * T(mask[i] & 1);
    case GN_SIGMOID: { const T s = y[i]; return (T(1) - s) * s * dy; }
    case GN_HARD_SIGMOID: { const T s = y[i]; return dy * T(0.2) * T(s > T(0) && s < T(1) ? 1 : 0); }
    case GN_TANH: { const T t = y[i]; return (T(1) - t * t) * dy; }
    case GN_ELU: return z[i] > T(0) ? dy : (y[i] + p.alpha) * dy;
    case GN_SELU: {
        const T s = y[i];
        return (s >= T(0) ? T(GN_SELU_SCALE) : s + T(GN_SELU_SCALE * GN_SELU_ALPHA)) * dy;  // SeluGrad
    }
    case GN_SOFTPLUS: return -(gn_expm1(-y[i]) * dy);  // sigmoid(z) = 1 - exp(-y)
    case GN_SOFTSIGN: { T d = gn_abs(z[i]) + T(1); return dy / (d * d); }
    case GN_SWISH: { const T v = z[i], s = gn_sigmoid(v); return ((T(1) - s) * v + T(1)) * s * dy; }
    case GN_GELU: {
        const T v = z[i];
        if (p.flags & GN_APPROXIMATE) {
            const T v2 = v * v;
            const T t = gn_tanh(T(GN_SQRT_2_OVER_PI) * (v + T(0.044715) * (v2 * v)));
            const T dt = (T(1) - t * t) * (v * (T(GN_SQRT_2_OVER_PI) * (T(1) + T(0.134145) * v2)));
            return (t + T(1) + dt) * T(0.5) * dy;
        }
        return (gn_erfc(v * T(-GN_INV_SQRT_2)) * T(0.5) + gn_exp(v * v * T(-0.5)) * (v * T(GN_INV_SQRT_2PI))) * dy;
    }
    case GN_EXPONENTIAL: return dy * y[i];
    case GN_MISH: {
        const T v = z[i], t = gn_tanh(gn_softplus(v));
        return ((T(1) - t * t) * gn_sigmoid(v) * v + t) * dy;
    }
    default: return dy;
    }
}
