/* symjac's compiled elementwise kernels: tanh and sigmoid values and slopes in one pass.
 *
 * Built at run time by symjac/_native.py with the machine's own C compiler (NOTE: native
 * kernels there); without a compiler symjac uses its NumPy and torch kernels instead.
 * Every loop is branch-free so that the compiler vectorises it for the CPU it runs on
 * (AVX-512, AVX2, SSE2, NEON alike); no libm call, so no scalar exp in the loop.
 *
 * Both kernels need exp(x) only for x = -|z| <= 0, from one range reduction:
 * x = n ln2 + r with |r| <= ln2 / 2, n an integer, p = expm1(r) by its Taylor polynomial,
 * s = 2**n, e = s + s p and m = e - 1. s p is exact (s is a power of two). 2**n is built
 * from its bits in two halves, s1 s2 with n1 + n2 = n: each half is a normal number for
 * every n >= -1076, so e underflows gradually, as libm's exp does.
 *
 * float64 carries r, p, e and m as double-double pairs (hi + lo, by Fast2Sum and exact
 * products: one fused multiply-add where the CPU has one, else Dekker's splitting) and
 * ends every quotient with its exact residual, so each value and slope is within about
 * half an ulp (about 0.5 ulp at most, 0.2 on average against 120-bit values), as
 * correctly rounded values would be to within a few tenths; the chain's worst-point
 * error then matches one fed with correctly rounded values. float32 has one rounding
 * per step (within 2 ulps for values, 3.5 for slopes).
 *
 * Cancellation-free forms (NOTE: stable-rewrites in symjac.numeric): tanh|z| =
 * -m / (1 + e) (m = exp(-2|z|) - 1 keeps small |z| relatively exact), sech(z)**2 =
 * 4 e / (1 + e)**2 with e = exp(-2|z|), and sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e),
 * sigmoid'(z) = e / (1 + e)**2 with e = exp(-|z|). A NaN input gives NaN outputs (it
 * propagates through the arithmetic; the clamp keeps it); +-inf gives +-1 and slope 0.
 * The exact sums need the compiler to keep each a * b + c as written: built with
 * -ffp-contract=off.
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
 * branch-free loop; the loop takes the other arguments first */
#define SYMJAC_VARIANTS(loop, value, divide, ...)                                           \
    do {                                                                                   \
        if (value)                                                                         \
            divide ? loop(__VA_ARGS__, 1, 1) : loop(__VA_ARGS__, 1, 0);                    \
        else                                                                               \
            divide ? loop(__VA_ARGS__, 0, 1) : loop(__VA_ARGS__, 0, 0);                    \
    } while (0)

/* Every kernel takes a (rows, cols) block and an optional bias per row (NULL: none), added
 * to each element first: the chain's z = W a + b then needs no pass of its own. Without a
 * bias the loops add -0.0, which leaves every input as it is (-0.0 too) */
#define SYMJAC_ROWS(loop, x, slope, rows, cols, bias, zero, ...)                           \
    for (ptrdiff_t i = 0; i < (rows); i++)                                                 \
    loop(x + i * (cols), slope + i * (cols), cols, (bias) ? (bias)[i] : (zero), __VA_ARGS__)

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

/* the exact error of a product: a * b - p for p = fl(a * b) (one fused multiply-add where
 * the CPU has one, else Dekker's splitting, which needs |a|, |b| < 2**995) */
#ifdef FP_FAST_FMA
SYMJAC_INLINE double f64_prod_err(double a, double b, double p) { return fma(a, b, -p); }
#else
SYMJAC_INLINE double f64_prod_err(double a, double b, double p) {
    double ta = 134217729.0 * a, tb = 134217729.0 * b; /* 2**27 + 1 */
    double ah = ta - (ta - a), al = a - ah, bh = tb - (tb - b), bl = b - bh;
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}
#endif

/* (nh + nl) / (dh + dl) to within about half an ulp, from rd ~ 1 / dh (within a few
 * ulps): the quotient q = nh rd and the share of its residual nh - q dh, which is exact
 * (nh - p by Sterbenz, the product's error exactly) or, where rounded, tiny. One division
 * (rd) serves every quotient by dh or dh**2 */
SYMJAC_INLINE double f64_div2(double nh, double nl, double dh, double dl, double rd) {
    double q = nh * rd, p = q * dh;
    double res = (nh - p) - f64_prod_err(q, dh, p);
    return q + ((res + nl) - q * dl) * rd;
}

/* e = eh + el = exp(x) and, when mh is not NULL, m = mh + ml = expm1(x), for x <= 0,
 * each to about 0.01 ulp of its high part (the comment at the top); NaN stays NaN */
SYMJAC_INLINE void f64_expneg(double x, double *eh, double *el, double *mh, double *ml) {
    /* exp(-746) is below the smallest subnormal; a NaN x fails the test and flows on */
    double xc = x < -746.0 ? -746.0 : x;
    double kd = xc * 0x1.71547652b82fep0 + F64_SHIFT;
    double n = kd - F64_SHIFT;
    double r1 = xc - n * 0x1.62e42fee00000p-1; /* ln2's high part: n * it is exact */
    double t = n * 0x1.a39ef35793c76p-33;      /* ln2's low part */
    /* r + rl = r1 - t exactly (Fast2Sum: |r1| >= |t| unless n = 0, where t = 0) */
    double r = r1 - t, rl = (r1 - r) - t;
    /* expm1(r + rl) = r + r**2 / 2 + r**2 w + rl (1 + r), w = sum_{j=1}^{11} r**j / (j + 2)!
     * (Estrin's scheme; the first omitted term is below 0.01 ulp); r**2 / 2 is carried
     * exactly, so p = ph + pl rounds only in its small terms */
    double r2 = r * r, r2l = f64_prod_err(r, r, r2), r4 = r2 * r2, r8 = r4 * r4;
    double b0 = 1.0 / 6 + r * (1.0 / 24), b1 = 1.0 / 120 + r * (1.0 / 720);
    double b2 = 1.0 / 5040 + r * (1.0 / 40320), b3 = 1.0 / 362880 + r * (1.0 / 3628800);
    double b4 = 1.0 / 39916800 + r * (1.0 / 479001600), b5 = 1.0 / 6227020800.0;
    double w = r * ((b0 + r2 * b1) + r4 * (b2 + r2 * b3) + r8 * (b4 + r2 * b5));
    double half = r2 * 0.5, tail = r2 * w + (r2l * 0.5 + rl * (1.0 + r));
    double hs = half + tail, hsl = (half - hs) + tail; /* |r| >= r**2 / 2 >= |tail|: */
    double ph = r + hs, pl = ((r - ph) + hs) + hsl;    /* Fast2Sum twice */
    /* 2**n = s1 s2, each half normal for every n >= -1076 (gradual underflow) */
    double k1 = n * 0.5 + F64_SHIFT, n1 = k1 - F64_SHIFT;
    double s1 = f64_pow2(k1), s2 = f64_pow2((n - n1) + F64_SHIFT);
    double sp = s1 * ph, e1 = s1 + sp; /* s1 >= |s1 ph|: Fast2Sum */
    *eh = e1 * s2;
    *el = (((s1 - e1) + sp) + s1 * pl) * s2;
    if (mh) { /* m = e - 1: (eh - 1) exactly by Fast2Sum (eh <= 1), plus el */
        double a = *eh - 1.0, al = *eh - (a + 1.0), lo = *el + al;
        double h = a + lo;
        *mh = h;
        *ml = (a - h) + lo; /* Fast2Sum: |eh - 1| >= |lo| or eh - 1 = 0 */
    }
}

/* The float64 loops run in chunks, two passes each: the exponential into a chunk of
 * (eh, el, mh, ml), then the quotients. One long loop body was bound by the latency of
 * its dependency chain (the out-of-order window does not reach the next element); two
 * shorter ones measured 1.24x faster on an AVX2 core (4.3 against 5.3 ns per value) */
#define F64_CHUNK 256

SYMJAC_INLINE void f64_tanh_loop(double *restrict u, double *restrict slope, ptrdiff_t n,
                                 double b, const int value, const int divide) {
    double EH[F64_CHUNK], EL[F64_CHUNK], MH[F64_CHUNK], ML[F64_CHUNK];
    for (ptrdiff_t j0 = 0; j0 < n; j0 += F64_CHUNK) {
        ptrdiff_t m = n - j0 < F64_CHUNK ? n - j0 : F64_CHUNK;
        double *restrict uc = u + j0, *restrict sc = slope + j0; /* u = 2z */
        for (ptrdiff_t j = 0; j < m; j++) {
            double eh, el, mh, ml, v = uc[j] + b;
            uc[j] = v; /* its sign, for the second pass */
            f64_expneg(-fabs(v), &eh, &el, value ? &mh : NULL, &ml);
            EH[j] = eh;
            EL[j] = el;
            if (value) {
                MH[j] = mh;
                ML[j] = ml;
            }
        }
        for (ptrdiff_t j = 0; j < m; j++) {
            double eh = EH[j], el = EL[j];
            /* d + dl = 1 + e (Fast2Sum), D + Dl = (1 + e)**2 */
            double d = 1.0 + eh, dl = ((1.0 - d) + eh) + el;
            double D = d * d, Dl = f64_prod_err(d, d, D) + (2.0 * d) * dl;
            double rd = 1.0 / d;
            if (divide) {
                /* cosh(z)**2 = (1 + e)**2 / (4 e); below e = 2**-900 (|z| > 311) the
                 * quotient alone (within an ulp; the correction's terms would overflow) */
                double re = 0.25 / eh, c0 = D * re;
                double c = f64_div2(D, Dl, 4.0 * eh, 4.0 * el, re);
                sc[j] = eh > 0x1p-900 ? c : c0;
            } else { /* sech(z)**2 = 4 e / (1 + e)**2 */
                sc[j] = f64_div2(4.0 * eh, 4.0 * el, D, Dl, rd * rd);
            }
            if (value) /* tanh|z| = -m / (1 + e) */
                uc[j] = copysign(f64_div2(-MH[j], -ML[j], d, dl, rd), uc[j]);
        }
    }
}

SYMJAC_INLINE void f64_sigmoid_loop(double *restrict z, double *restrict slope, ptrdiff_t n,
                                    double b, const int value, const int divide) {
    (void)divide;
    double EH[F64_CHUNK], EL[F64_CHUNK]; /* in chunks, as f64_tanh_loop */
    for (ptrdiff_t j0 = 0; j0 < n; j0 += F64_CHUNK) {
        ptrdiff_t m = n - j0 < F64_CHUNK ? n - j0 : F64_CHUNK;
        double *restrict zc = z + j0, *restrict sc = slope + j0;
        for (ptrdiff_t j = 0; j < m; j++) {
            double v = zc[j] + b;
            zc[j] = v;
            f64_expneg(-fabs(v), EH + j, EL + j, NULL, NULL);
        }
        for (ptrdiff_t j = 0; j < m; j++) {
            double eh = EH[j], el = EL[j], v = zc[j];
            double d = 1.0 + eh, dl = ((1.0 - d) + eh) + el;
            double D = d * d, Dl = f64_prod_err(d, d, D) + (2.0 * d) * dl;
            double rd = 1.0 / d;
            sc[j] = f64_div2(eh, el, D, Dl, rd * rd); /* e / (1 + e)**2 */
            if (value) { /* (1 or e) / (1 + e); a NaN v takes 1, and d is NaN */
                int neg = v < 0;
                zc[j] = f64_div2(neg ? eh : 1.0, neg ? el : 0.0, d, dl, rd);
            }
        }
    }
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
                                 float b, const int value, const int divide) {
    for (ptrdiff_t j = 0; j < n; j++) {
        float v = u[j] + b;
        float e, m;
        f32_expneg(-fabsf(v), &e, &m);
        float d = 1.0f + e;
        slope[j] = divide ? (d * d) * 0.25f / e : 4.0f * e / (d * d);
        if (value)
            u[j] = copysignf(-m / d, v);
    }
}

SYMJAC_INLINE void f32_sigmoid_loop(float *restrict z, float *restrict slope, ptrdiff_t n,
                                    float b, const int value, const int divide) {
    (void)divide;
    for (ptrdiff_t j = 0; j < n; j++) {
        float v = z[j] + b;
        float e, m;
        f32_expneg(-fabsf(v), &e, &m);
        float d = 1.0f + e;
        slope[j] = e / (d * d);
        if (value)
            z[j] = (v < 0 ? e : 1.0f) / d;
    }
}

/* The exported kernels, one per activation and type, over (rows, cols) blocks:
 * symjac_tanh_*(u, slope, rows, cols, bias, value, divide): u (values of 2z, plus 2b per
 * row) -> tanh(z) in place when ``value``; slope gets sech(z)**2 or, with ``divide``,
 * cosh(z)**2. symjac_sigmoid_*(z, slope, rows, cols, bias, value): z (plus b per row) ->
 * sigmoid(z) in place when ``value``; slope gets sigmoid'(z) */
#define SYMJAC_EXPORT(name, T, loop, zero, has_divide)                                      \
    SYMJAC_INLINE void name##_rows(T *restrict x, T *restrict slope, ptrdiff_t rows,          \
                                   ptrdiff_t cols, const T *restrict bias, const int value,   \
                                   const int divide) {                                        \
        SYMJAC_ROWS(loop, x, slope, rows, cols, bias, zero, value, divide);                  \
    }                                                                                      \
    void name(T *restrict x, T *restrict slope, ptrdiff_t rows, ptrdiff_t cols,               \
              const T *restrict bias, int value SYMJAC_DIVIDE_ARG_##has_divide) {             \
        SYMJAC_VARIANTS(name##_rows, value, SYMJAC_DIVIDE_##has_divide, x, slope, rows, cols, \
                        bias);                                                             \
    }
#define SYMJAC_DIVIDE_ARG_1 , int divide
#define SYMJAC_DIVIDE_ARG_0
#define SYMJAC_DIVIDE_1 divide
#define SYMJAC_DIVIDE_0 0

SYMJAC_EXPORT(symjac_tanh_f64, double, f64_tanh_loop, -0.0, 1)
SYMJAC_EXPORT(symjac_sigmoid_f64, double, f64_sigmoid_loop, -0.0, 0)
SYMJAC_EXPORT(symjac_tanh_f32, float, f32_tanh_loop, -0.0f, 1)
SYMJAC_EXPORT(symjac_sigmoid_f32, float, f32_sigmoid_loop, -0.0f, 0)

/* the interface version symjac/_native.py checks after loading */
int symjac_native_version(void) { return 2; }
