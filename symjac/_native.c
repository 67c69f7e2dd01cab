/* symjac's compiled elementwise kernels: tanh and sigmoid values and slopes in one pass.
 *
 * Built at run time by symjac/_native.py with the machine's own C compiler (NOTE: native
 * kernels there); without a compiler symjac uses its NumPy and torch kernels instead.
 * Every loop is branch-free so that the compiler vectorises it for the CPU it runs on
 * (AVX-512, AVX2, SSE2, NEON alike); no libm call, so no scalar exp in the loop.
 *
 * Both kernels need exp(x) only for x = -|z| <= 0, returned as e = exp(x) and
 * m = expm1(x) from one range reduction: x = n ln2 + r with |r| <= ln2 / 2, n an integer,
 * p = expm1(r) by its Taylor polynomial (the first omitted term is below 0.1 ulp of p),
 * s = 2**n, e = s + s p and m = (s - 1) + s p. s p is exact (s is a power of two), s - 1
 * too for n >= -53, so each is one rounding from p. 2**n is built from its bits in two
 * halves, s1 s2 with n1 + n2 = n: each half is a normal number for every n >= -1076, so
 * e underflows gradually, as libm's exp does. Cancellation-free forms (NOTE:
 * stable-rewrites in symjac.numeric): tanh|z| = -m / (1 + e) (m = exp(-2|z|) - 1 keeps
 * small |z| relatively exact), sech(z)**2 = 4 e / (1 + e)**2 with e = exp(-2|z|), and
 * sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e), sigmoid'(z) = e / (1 + e)**2 with e = exp(-|z|).
 * A NaN input gives NaN outputs (it propagates through the arithmetic; the clamp keeps
 * it); +-inf gives +-1 and slope 0.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define SYMJAC_INLINE static inline __attribute__((always_inline))
#else
#define SYMJAC_INLINE static inline
#endif

/* each (value, divide) pair as constant arguments: each call compiles to its own
 * branch-free loop */
#define SYMJAC_VARIANTS(loop, x, slope, n, value, divide)                                   \
    do {                                                                                   \
        if (value)                                                                         \
            divide ? loop(x, slope, n, 1, 1) : loop(x, slope, n, 1, 0);                    \
        else                                                                               \
            divide ? loop(x, slope, n, 0, 1) : loop(x, slope, n, 0, 0);                    \
    } while (0)

/* -- float64 ------------------------------------------------------------------------- */
#define F64_SHIFT 0x1.8p52 /* adding it rounds to an integer held in the low bits */

SYMJAC_INLINE double f64_pow2(double k) {
    /* k = F64_SHIFT + n: its low bits hold n (two's complement); 2**n from its bits */
    uint64_t b;
    memcpy(&b, &k, sizeof b);
    b = (b + 1023u) << 52;
    double s;
    memcpy(&s, &b, sizeof s);
    return s;
}

/* e = exp(x), m = expm1(x) for x <= 0; NaN stays NaN */
SYMJAC_INLINE void f64_expneg(double x, double *e, double *m) {
    /* exp(-746) is below the smallest subnormal; a NaN x fails the test and flows on */
    double xc = x < -746.0 ? -746.0 : x;
    double kd = xc * 0x1.71547652b82fep0 + F64_SHIFT;
    double n = kd - F64_SHIFT;
    double r = xc - n * 0x1.62e42fee00000p-1; /* ln2's high part: n * it is exact */
    r = r - n * 0x1.a39ef35793c76p-33;        /* ln2's low part */
    /* q = sum_{j=0}^{11} r**j / (j + 2)!, by Estrin's scheme (shorter dependency chains) */
    double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    double c0 = 1.0 / 2 + r * (1.0 / 6), c2 = 1.0 / 24 + r * (1.0 / 120);
    double c4 = 1.0 / 720 + r * (1.0 / 5040), c6 = 1.0 / 40320 + r * (1.0 / 362880);
    double c8 = 1.0 / 3628800 + r * (1.0 / 39916800);
    double c10 = 1.0 / 479001600 + r * (1.0 / 6227020800.0);
    double q = (c0 + r2 * c2) + r4 * (c4 + r2 * c6) + r8 * (c8 + r2 * c10);
    double p = r2 * q + r; /* expm1(r) */
    double k1 = n * 0.5 + F64_SHIFT, n1 = k1 - F64_SHIFT;
    double s1 = f64_pow2(k1), s2 = f64_pow2((n - n1) + F64_SHIFT);
    *e = (s1 * p + s1) * s2;
    double s = s1 * s2;
    *m = (s - 1.0) + s * p;
}

SYMJAC_INLINE void f64_tanh_loop(double *restrict u, double *restrict slope, ptrdiff_t n,
                                 const int value, const int divide) {
    for (ptrdiff_t j = 0; j < n; j++) {
        double v = u[j]; /* u = 2z */
        double e, m;
        f64_expneg(-fabs(v), &e, &m);
        /* d + dl = 1 + e exactly (Fast2Sum); D = (1 + e)**2 to within its rounding */
        double d = 1.0 + e, dl = (1.0 - d) + e;
        double D = d * d + (2.0 * d) * dl;
        /* the slope, or with ``divide`` its reciprocal cosh(z)**2 */
        slope[j] = divide ? D * 0.25 / e : 4.0 * e / D;
        if (value) {
            /* -m / (d + dl) = t0 (1 - dl / d), and 1 / d = (1 + t0) / 2 to a few ulps */
            double t0 = -m / d;
            u[j] = copysign(t0 - (t0 * dl) * ((1.0 + t0) * 0.5), v);
        }
    }
}

/* u (n values of 2z) -> tanh(z) in place when ``value``; slope gets sech(z)**2 or,
 * with ``divide``, cosh(z)**2 */
void symjac_tanh_f64(double *restrict u, double *restrict slope, ptrdiff_t n, int value,
                     int divide) {
    SYMJAC_VARIANTS(f64_tanh_loop, u, slope, n, value, divide);
}

SYMJAC_INLINE void f64_sigmoid_loop(double *restrict z, double *restrict slope, ptrdiff_t n,
                                    const int value) {
    for (ptrdiff_t j = 0; j < n; j++) {
        double v = z[j];
        double e, m;
        f64_expneg(-fabs(v), &e, &m);
        double d = 1.0 + e;
        slope[j] = e / (d * d);
        if (value) /* a NaN v takes the 1.0 branch; d is NaN */
            z[j] = (v < 0 ? e : 1.0) / d;
    }
}

/* z (n values) -> sigmoid(z) in place when ``value``; slope gets sigmoid'(z) */
void symjac_sigmoid_f64(double *restrict z, double *restrict slope, ptrdiff_t n, int value) {
    if (value)
        f64_sigmoid_loop(z, slope, n, 1);
    else
        f64_sigmoid_loop(z, slope, n, 0);
}

/* -- float32: the same forms in single precision -------------------------------------- */
#define F32_SHIFT 0x1.8p23f

SYMJAC_INLINE float f32_pow2(float k) {
    uint32_t b;
    memcpy(&b, &k, sizeof b);
    b = (b + 127u) << 23;
    float s;
    memcpy(&s, &b, sizeof s);
    return s;
}

SYMJAC_INLINE void f32_expneg(float x, float *e, float *m) {
    float xc = x < -104.0f ? -104.0f : x; /* as in f64_expneg */
    float kd = xc * 0x1.715476p0f + F32_SHIFT;
    float n = kd - F32_SHIFT;
    float r = xc - n * 0x1.62e400p-1f; /* ln2's high part: n * it is exact */
    r = r - n * 0x1.7f7d1cp-20f;
    /* q = sum_{j=0}^{6} r**j / (j + 2)! */
    float r2 = r * r, r4 = r2 * r2;
    float c0 = 1.0f / 2 + r * (1.0f / 6), c2 = 1.0f / 24 + r * (1.0f / 120);
    float c4 = 1.0f / 720 + r * (1.0f / 5040), c6 = 1.0f / 40320;
    float q = (c0 + r2 * c2) + r4 * (c4 + r2 * c6);
    float p = r2 * q + r;
    float k1 = n * 0.5f + F32_SHIFT, n1 = k1 - F32_SHIFT;
    float s1 = f32_pow2(k1), s2 = f32_pow2((n - n1) + F32_SHIFT);
    *e = (s1 * p + s1) * s2;
    float s = s1 * s2;
    *m = (s - 1.0f) + s * p;
}

SYMJAC_INLINE void f32_tanh_loop(float *restrict u, float *restrict slope, ptrdiff_t n,
                                 const int value, const int divide) {
    for (ptrdiff_t j = 0; j < n; j++) {
        float v = u[j];
        float e, m;
        f32_expneg(-fabsf(v), &e, &m);
        float d = 1.0f + e;
        slope[j] = divide ? (d * d) * 0.25f / e : 4.0f * e / (d * d);
        if (value)
            u[j] = copysignf(-m / d, v);
    }
}

void symjac_tanh_f32(float *restrict u, float *restrict slope, ptrdiff_t n, int value,
                     int divide) {
    SYMJAC_VARIANTS(f32_tanh_loop, u, slope, n, value, divide);
}

SYMJAC_INLINE void f32_sigmoid_loop(float *restrict z, float *restrict slope, ptrdiff_t n,
                                    const int value) {
    for (ptrdiff_t j = 0; j < n; j++) {
        float v = z[j];
        float e, m;
        f32_expneg(-fabsf(v), &e, &m);
        float d = 1.0f + e;
        slope[j] = e / (d * d);
        if (value)
            z[j] = (v < 0 ? e : 1.0f) / d;
    }
}

void symjac_sigmoid_f32(float *restrict z, float *restrict slope, ptrdiff_t n, int value) {
    if (value)
        f32_sigmoid_loop(z, slope, n, 1);
    else
        f32_sigmoid_loop(z, slope, n, 0);
}

/* the interface version symjac/_native.py checks after loading */
int symjac_native_version(void) { return 1; }
