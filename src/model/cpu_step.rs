//! The training step on the CPU, written out by hand for speed: the same loss and gradient
//! as [`crate::model::stacked::loss_gradient`] (which it is tested against), with matrix products
//! by the BLAS inside libtorch (MKL's `sgemm_`, one thread), `tanh` by MKL's vector math,
//! and every elementwise pass fused into plain loops over buffers allocated once. One call
//! computes one member's gradient for some rows of its batch (a work unit of
//! [`crate::training::members`]); the buffers are 64-byte aligned, so that the products take the
//! same code path, and the same sums, on every run.
//!
//! Rows are samples; matrices are row-major; a weight is `[out, in]` as in libtorch.

use std::os::raw::{c_char, c_int};

use crate::model::{FastField, FieldKind, LossWeights, ModelConfig};

extern "C" {
    /// BLAS single-precision matrix product (column-major, Fortran calling convention).
    fn sgemm_(
        transa: *const c_char,
        transb: *const c_char,
        m: *const c_int,
        n: *const c_int,
        k: *const c_int,
        alpha: *const f32,
        a: *const f32,
        lda: *const c_int,
        b: *const f32,
        ldb: *const c_int,
        beta: *const f32,
        c: *mut f32,
        ldc: *const c_int,
    );
    /// MKL's vector `tanh`.
    fn vsTanh(n: c_int, a: *const f32, y: *mut f32);
}

/// `c = alpha op(a) op(b) + beta c` for row-major `op(a)` `[m, k]`, `op(b)` `[k, n]`, `c` `[m, n]`;
/// `ta`: `a` is stored `[k, m]` (use its transpose), `tb`: `b` is stored `[n, k]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(ta: bool, tb: bool, m: usize, n: usize, k: usize, alpha: f32, a: &[f32], b: &[f32], beta: f32, c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm operand sizes");
    if m == 0 || n == 0 {
        return;
    }
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
    let (tr_b, ldb) = if tb { (b'T', k) } else { (b'N', n) };
    let (tr_a, lda) = if ta { (b'T', m) } else { (b'N', k) };
    let (m_, n_, k_) = (n as c_int, m as c_int, k as c_int);
    let (lda, ldb, ldc) = (lda.max(1) as c_int, ldb.max(1) as c_int, n as c_int);
    // SAFETY: the sizes were checked above; sgemm_ reads a and b and writes c within them.
    unsafe {
        sgemm_(&(tr_b as c_char), &(tr_a as c_char), &m_, &n_, &k_, &alpha, b.as_ptr(), &ldb, a.as_ptr(), &lda, &beta, c.as_mut_ptr(), &ldc)
    }
}

fn tanh_in_place(x: &mut [f32]) {
    // SAFETY: vsTanh reads and writes x.len() floats; in-place use is allowed by MKL.
    unsafe { vsTanh(x.len() as c_int, x.as_ptr(), x.as_mut_ptr()) }
}

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Block([f32; 16]);

/// A zeroed, 64-byte-aligned buffer of `f32`.
pub struct Buf {
    blocks: Vec<Block>,
    len: usize,
}

impl Buf {
    pub fn new(len: usize) -> Self {
        Buf { blocks: vec![Block([0.0; 16]); len.div_ceil(16)], len }
    }
    pub fn as_slice(&self) -> &[f32] {
        // SAFETY: the blocks hold at least len contiguous, initialised f32.
        unsafe { std::slice::from_raw_parts(self.blocks.as_ptr() as *const f32, self.len) }
    }
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as above, and self is borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr() as *mut f32, self.len) }
    }
}

/// The sizes of one member, and where each of its parameters is in the layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Dims {
    /// Input (a pair of frames).
    pub d: usize,
    /// Autoencoder hidden width.
    pub h: usize,
    /// Latent dimension (even).
    pub l: usize,
    /// Field hidden width.
    pub f: usize,
    /// Rows of the field's last layer: 2 for the HNN, `l` for the baseline.
    pub out3: usize,
    pub field: FastField,
    /// Offset and size of each parameter in a member's flat gradient (canonical order).
    pub offsets: Vec<(usize, usize)>,
    pub flat_len: usize,
    ix: Indices,
}

/// Canonical indices of the parameters the step reads, `(weight, bias)` per layer.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Indices {
    enc: [(usize, usize); 4],
    dec: [(usize, usize); 4],
    f1: (usize, usize),
    f2: (usize, usize),
    f3w: usize,
}

impl Dims {
    /// The sizes of a member of family `kind`, which must have the hand-written step.
    pub fn new(c: &ModelConfig, kind: FieldKind) -> Self {
        let field = kind.dynamics().fast_path().expect("the CPU step is written for families with a fast path");
        let layout = c.layout(kind);
        let wb = |prefix: String| (layout.index(&format!("{prefix}.weight")), layout.index(&format!("{prefix}.bias")));
        let ix = Indices {
            enc: std::array::from_fn(|i| wb(format!("ae.enc.l{}", i + 1))),
            dec: std::array::from_fn(|i| wb(format!("ae.dec.l{}", i + 1))),
            f1: wb("field.l1".into()),
            f2: wb("field.l2".into()),
            f3w: layout.index("field.l3.weight"),
        };
        let out3 = layout.shapes()[ix.f3w][0] as usize;
        Dims {
            d: c.input_dim as usize,
            h: c.ae_hidden as usize,
            l: c.latent_dim as usize,
            f: c.field_hidden as usize,
            out3,
            field,
            offsets: layout.flat_offsets(),
            flat_len: layout.flat_len(),
            ix,
        }
    }
}

/// One member's parameters, in the layout's canonical order.
pub type Params<'a> = [&'a [f32]];

/// The buffers of one work unit of `n` rows (its share of a member's batch).
pub struct Workspace {
    pub dims: Dims,
    pub n: usize,
    /// The unit's `x` rows then its `x'` rows, `[2n, d]`; the caller gathers them here.
    pub x2: Buf,
    enc: Residual,
    dec: Residual,
    /// `x - x^`, then the gradient at `x^`, `[n, d]`.
    e: Buf,
    a1: Buf,
    a2: Buf,
    s2: Buf,
    t1: Buf,
    s1: Buf,
    f: Buf,
    r: Buf,
    c: Buf,
    dz: Buf,
    df: Buf,
    da1: Buf,
    da2: Buf,
    ds: Buf,
    dt: Buf,
    /// The member's gradient for these rows, laid out by [`Dims::offsets`].
    pub grad: Buf,
}

/// A residual MLP's activations and scratch for its backward pass, for `rows` rows.
struct Residual {
    rows: usize,
    /// Pre-activations and activations of the three hidden layers, `[rows, h]` each.
    p: [Buf; 3],
    h: [Buf; 3],
    out: Buf,
    dh: Buf,
    dp: Buf,
}

impl Residual {
    fn new(rows: usize, h: usize, out: usize) -> Self {
        let b = || Buf::new(rows * h);
        Residual { rows, p: [b(), b(), b()], h: [b(), b(), b()], out: Buf::new(rows * out), dh: b(), dp: b() }
    }

    /// Forward through layers `w[0..4]` (weight, bias each) from `x` `[rows, inp]`.
    fn forward(&mut self, x: &[f32], inp: usize, hid: usize, outd: usize, w: [(&[f32], &[f32]); 4]) {
        let rows = self.rows;
        linear(x, rows, inp, w[0].0, w[0].1, hid, self.p[0].as_mut_slice());
        relu_into(self.p[0].as_slice(), None, self.h[0].as_mut_slice());
        for l in 1..3 {
            let (before, after) = self.h.split_at_mut(l);
            linear(before[l - 1].as_slice(), rows, hid, w[l].0, w[l].1, hid, self.p[l].as_mut_slice());
            relu_into(self.p[l].as_slice(), Some(before[l - 1].as_slice()), after[0].as_mut_slice());
        }
        linear(self.h[2].as_slice(), rows, hid, w[3].0, w[3].1, outd, self.out.as_mut_slice());
    }

    /// Backward from `d_out` `[rows, outd]`: writes the layers' gradients into `g` (weight
    /// and bias slices per layer) and, if given, the gradient at the input into `dx`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &mut self,
        x: &[f32],
        inp: usize,
        hid: usize,
        outd: usize,
        w: [&[f32]; 4],
        d_out: &[f32],
        g: [(&mut [f32], &mut [f32]); 4],
        dx: Option<&mut [f32]>,
    ) {
        let rows = self.rows;
        let [g1, g2, g3, g4] = g;
        gemm(true, false, outd, hid, rows, 1.0, d_out, self.h[2].as_slice(), 0.0, g4.0);
        colsum(d_out, outd, g4.1);
        gemm(false, false, rows, hid, outd, 1.0, d_out, w[3], 0.0, self.dh.as_mut_slice());
        for (l, gl) in [(2usize, g3), (1, g2)] {
            relu_grad(self.dh.as_slice(), self.p[l].as_slice(), self.dp.as_mut_slice());
            gemm(true, false, hid, hid, rows, 1.0, self.dp.as_slice(), self.h[l - 1].as_slice(), 0.0, gl.0);
            colsum(self.dp.as_slice(), hid, gl.1);
            gemm(false, false, rows, hid, hid, 1.0, self.dp.as_slice(), w[l], 1.0, self.dh.as_mut_slice());
        }
        relu_grad(self.dh.as_slice(), self.p[0].as_slice(), self.dp.as_mut_slice());
        gemm(true, false, hid, inp, rows, 1.0, self.dp.as_slice(), x, 0.0, g1.0);
        colsum(self.dp.as_slice(), hid, g1.1);
        if let Some(dx) = dx {
            gemm(false, false, rows, inp, hid, 1.0, self.dp.as_slice(), w[0], 0.0, dx);
        }
    }
}

/// `out = x w^T + b` (bias broadcast over the rows).
fn linear(x: &[f32], rows: usize, inp: usize, w: &[f32], b: &[f32], outd: usize, out: &mut [f32]) {
    for row in out[..rows * outd].chunks_exact_mut(outd) {
        row.copy_from_slice(b);
    }
    gemm(false, true, rows, outd, inp, 1.0, x, w, 1.0, out);
}

/// `out = base + relu(p)` (or `relu(p)` without a base).
fn relu_into(p: &[f32], base: Option<&[f32]>, out: &mut [f32]) {
    match base {
        Some(b) => out.iter_mut().zip(p).zip(b).for_each(|((o, p), b)| *o = b + p.max(0.0)),
        None => out.iter_mut().zip(p).for_each(|(o, p)| *o = p.max(0.0)),
    }
}

/// `out = d` where `p > 0`, else 0.
fn relu_grad(d: &[f32], p: &[f32], out: &mut [f32]) {
    out.iter_mut().zip(d).zip(p).for_each(|((o, d), p)| *o = if *p > 0.0 { *d } else { 0.0 });
}

/// `out[j] = sum_i m[i, j]` for `m` `[rows, cols]`.
fn colsum(m: &[f32], cols: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in m.chunks_exact(cols) {
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
    }
}

/// Splits a flat gradient buffer into its parameters' slices.
fn split<'a>(grad: &'a mut [f32], offsets: &[(usize, usize)]) -> Vec<&'a mut [f32]> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut rest = grad;
    let mut at = 0;
    for &(off, size) in offsets {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(off - at);
        let (this, tail) = tail.split_at_mut(size);
        out.push(this);
        rest = tail;
        at = off + size;
    }
    out
}

impl Workspace {
    pub fn new(dims: Dims, n: usize) -> Self {
        let (d, h, l, f, flat_len) = (dims.d, dims.h, dims.l, dims.f, dims.flat_len);
        let b = Buf::new;
        Workspace {
            dims,
            n,
            x2: b(2 * n * d),
            enc: Residual::new(2 * n, h, l),
            dec: Residual::new(n, h, d),
            e: b(n * d),
            a1: b(n * f),
            a2: b(n * f),
            s2: b(n * f),
            t1: b(n * f),
            s1: b(n * f),
            f: b(n * l),
            r: b(n * l),
            c: b(n * l / 2),
            dz: b(2 * n * l),
            df: b(n * l),
            da1: b(n * f),
            da2: b(n * f),
            ds: b(n * f),
            dt: b(n * f),
            grad: b(flat_len),
        }
    }

    /// The loss gradient of one member for the `n` rows gathered in `x2`, with `scale` =
    /// `1 / B` for the batch size `B` (see [`crate::model::stacked::loss_gradient`]); writes
    /// [`grad`](Self::grad) and returns the sums over the rows of the terms `(ae, cc, hnn)`.
    pub fn loss_gradient(&mut self, p: &Params, scale: f32, w: &LossWeights) -> [f64; 3] {
        let Dims { d, h, l, f, out3, field, ix, .. } = self.dims;
        let (n, half) = (self.n, l / 2);
        let Indices { enc, dec, f1: (f1w, f1b), f2: (f2w, f2b), f3w } = ix;
        let pair = |(w, b): (usize, usize)| (p[w], p[b]);
        let (enc_w, dec_w) = (enc.map(pair), dec.map(pair));

        // Forward: both encodes as one product of 2n rows.
        self.enc.forward(self.x2.as_slice(), d, h, l, enc_w);
        let zz = self.enc.out.as_slice();
        let (z, zn) = zz.split_at(n * l);
        self.dec.forward(z, l, h, d, dec_w);
        let x = &self.x2.as_slice()[..n * d];
        let e = self.e.as_mut_slice();
        let mut ae = 0.0f64;
        for ((e, x), xr) in e.iter_mut().zip(x).zip(self.dec.out.as_slice()) {
            *e = x - xr;
            ae += (*e as f64) * (*e as f64);
        }
        linear(z, n, l, p[f1w], p[f1b], f, self.a1.as_mut_slice());
        tanh_in_place(self.a1.as_mut_slice());
        linear(self.a1.as_slice(), n, f, p[f2w], p[f2b], f, self.a2.as_mut_slice());
        tanh_in_place(self.a2.as_mut_slice());
        let w3 = &p[f3w][f..2 * f]; // the HNN's H is the last layer's second output
        let fv = self.f.as_mut_slice();
        match field {
            FastField::Baseline => gemm(false, true, n, l, f, 1.0, self.a2.as_slice(), p[f3w], 0.0, fv),
            FastField::Hnn => {
                // s2 = (1 - a2^2) w3, t1 = s2 W2, s1 = (1 - a1^2) t1, g = s1 W1, f = (g_p, -g_q).
                for (row_s, row_a) in self.s2.as_mut_slice().chunks_exact_mut(f).zip(self.a2.as_slice().chunks_exact(f)) {
                    row_s.iter_mut().zip(row_a).zip(w3).for_each(|((s, a), w)| *s = (1.0 - a * a) * w);
                }
                gemm(false, false, n, f, f, 1.0, self.s2.as_slice(), p[f2w], 0.0, self.t1.as_mut_slice());
                for ((s, t), a) in self.s1.as_mut_slice().iter_mut().zip(self.t1.as_slice()).zip(self.a1.as_slice()) {
                    *s = (1.0 - a * a) * t;
                }
                let g = self.df.as_mut_slice(); // scratch for g
                gemm(false, false, n, l, f, 1.0, self.s1.as_slice(), p[f1w], 0.0, g);
                for (row_f, row_g) in fv.chunks_exact_mut(l).zip(g.chunks_exact(l)) {
                    for j in 0..half {
                        row_f[j] = row_g[half + j];
                        row_f[half + j] = -row_g[j];
                    }
                }
            }
        }
        let (mut hnn, mut cc) = (0.0f64, 0.0f64);
        let r = self.r.as_mut_slice();
        let c = self.c.as_mut_slice();
        for i in 0..n {
            for j in 0..l {
                let v = zn[i * l + j] - z[i * l + j] - fv[i * l + j];
                r[i * l + j] = v;
                hnn += (v as f64) * (v as f64);
            }
            for j in 0..half {
                let v = z[i * l + half + j] - (zn[i * l + j] - z[i * l + j]);
                c[i * half + j] = v;
                cc += (v as f64) * (v as f64);
            }
        }
        let terms = [ae / d as f64, cc, hnn / l as f64];

        // Backward.
        let mut g = split(self.grad.as_mut_slice(), &self.dims.offsets);
        let k_ae = -2.0 * w.ae as f32 * scale / d as f32;
        let k_hnn = 2.0 * w.latent as f32 * scale / l as f32;
        let k_cc = 2.0 * w.cc as f32 * scale;
        self.e.as_mut_slice().iter_mut().for_each(|v| *v *= k_ae); // dL/dx^
                                                                   // dL/dz and dL/dz' from the hnn and cc terms; df = -dr.
        let (dz, dzn) = self.dz.as_mut_slice().split_at_mut(n * l);
        let df = self.df.as_mut_slice();
        for i in 0..n {
            for j in 0..half {
                let dc = k_cc * c[i * half + j];
                let (drq, drp) = (k_hnn * r[i * l + j], k_hnn * r[i * l + half + j]);
                dz[i * l + j] = dc - drq;
                dz[i * l + half + j] = dc - drp;
                dzn[i * l + j] = drq - dc;
                dzn[i * l + half + j] = drp;
                df[i * l + j] = -drq;
                df[i * l + half + j] = -drp;
            }
        }
        {
            let [g1w, g1b, g2w, g2b, g3w, g3b, g4w, g4b] = take8(&mut g, dec);
            let dec_ws = dec.map(|(w, _)| p[w]);
            // dz += (gradient at z from the decoder): computed into dt's first n*l, then added.
            let dz_dec = &mut self.dt.as_mut_slice()[..n * l];
            self.dec.backward(z, l, h, d, dec_ws, self.e.as_slice(), [(g1w, g1b), (g2w, g2b), (g3w, g3b), (g4w, g4b)], Some(dz_dec));
            dz.iter_mut().zip(self.dt.as_slice()).for_each(|(a, b)| *a += b);
        }
        // The field.
        let (a1, a2) = (self.a1.as_slice(), self.a2.as_slice());
        match field {
            FastField::Baseline => {
                gemm(true, false, out3, f, n, 1.0, df, a2, 0.0, g[f3w]);
                let da2 = self.da2.as_mut_slice();
                gemm(false, false, n, f, l, 1.0, df, p[f3w], 0.0, da2);
                da2.iter_mut().zip(a2).for_each(|(d, a)| *d *= 1.0 - a * a); // dpa2
                gemm(true, false, f, f, n, 1.0, da2, a1, 0.0, g[f2w]);
                colsum(da2, f, g[f2b]);
                let da1 = self.da1.as_mut_slice();
                gemm(false, false, n, f, f, 1.0, da2, p[f2w], 0.0, da1);
                da1.iter_mut().zip(a1).for_each(|(d, a)| *d *= 1.0 - a * a); // dpa1
                gemm(true, false, f, l, n, 1.0, da1, z, 0.0, g[f1w]);
                colsum(da1, f, g[f1b]);
                gemm(false, false, n, l, f, 1.0, da1, p[f1w], 1.0, dz);
            }
            FastField::Hnn => {
                // f = (g_p, -g_q) => dg = (-df_p, df_q); kept in r's buffer (r is done).
                let dg = self.r.as_mut_slice();
                for i in 0..n {
                    for j in 0..half {
                        dg[i * l + j] = -df[i * l + half + j];
                        dg[i * l + half + j] = df[i * l + j];
                    }
                }
                let (s1, s2, t1) = (self.s1.as_slice(), self.s2.as_slice(), self.t1.as_slice());
                gemm(true, false, f, l, n, 1.0, s1, dg, 0.0, g[f1w]); // g = s1 W1
                let ds1 = self.ds.as_mut_slice();
                gemm(false, true, n, f, l, 1.0, dg, p[f1w], 0.0, ds1);
                let (dt1, da1) = (self.dt.as_mut_slice(), self.da1.as_mut_slice());
                for (((dt, da), (ds, t)), a) in dt1.iter_mut().zip(da1.iter_mut()).zip(ds1.iter().zip(t1)).zip(a1) {
                    *dt = ds * (1.0 - a * a); // s1 = (1 - a1^2) t1
                    *da = ds * t * a * -2.0;
                }
                gemm(true, false, f, f, n, 1.0, s2, dt1, 0.0, g[f2w]); // t1 = s2 W2
                let ds2 = self.ds.as_mut_slice();
                gemm(false, true, n, f, f, 1.0, dt1, p[f2w], 0.0, ds2);
                let (g3, dw3) = g[f3w].split_at_mut(f);
                g3.fill(0.0); // only H's row has a gradient
                dw3.fill(0.0);
                let da2 = self.da2.as_mut_slice();
                for ((row_da, row_ds), row_a) in da2.chunks_exact_mut(f).zip(ds2.chunks_exact(f)).zip(a2.chunks_exact(f)) {
                    for j in 0..f {
                        let (ds, a) = (row_ds[j], row_a[j]);
                        dw3[j] += ds * (1.0 - a * a);
                        // s2 = (1 - a2^2) w3, then down a2 = tanh(.): dpa2.
                        row_da[j] = ds * w3[j] * a * -2.0 * (1.0 - a * a);
                    }
                }
                gemm(true, false, f, f, n, 1.0, da2, a1, 1.0, g[f2w]);
                colsum(da2, f, g[f2b]);
                gemm(false, false, n, f, f, 1.0, da2, p[f2w], 1.0, da1);
                da1.iter_mut().zip(a1).for_each(|(d, a)| *d *= 1.0 - a * a); // dpa1
                gemm(true, false, f, l, n, 1.0, da1, z, 1.0, g[f1w]);
                colsum(da1, f, g[f1b]);
                gemm(false, false, n, l, f, 1.0, da1, p[f1w], 1.0, dz);
            }
        }
        // The encoder, from dZ = [dz; dz'].
        {
            let [g1w, g1b, g2w, g2b, g3w, g3b, g4w, g4b] = take8(&mut g, enc);
            let enc_ws = enc.map(|(w, _)| p[w]);
            self.enc.backward(
                self.x2.as_slice(),
                d,
                h,
                l,
                enc_ws,
                self.dz.as_slice(),
                [(g1w, g1b), (g2w, g2b), (g3w, g3b), (g4w, g4b)],
                None,
            );
        }
        terms
    }
}

/// The eight gradient slices of a residual network's layers `(weight, bias)`, as
/// `[w1, b1, .., w4, b4]`.
fn take8<'a>(g: &mut [&'a mut [f32]], layers: [(usize, usize); 4]) -> [&'a mut [f32]; 8] {
    let [(w1, b1), (w2, b2), (w3, b3), (w4, b4)] = layers;
    [w1, b1, w2, b2, w3, b3, w4, b4].map(|i| std::mem::take(&mut g[i]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stacked::{initial_weights, loss_gradient};
    use crate::model::{LossWeights, ModelConfig};
    use tch::{Device, Kind, Tensor};

    #[test]
    fn gemm_follows_row_major_conventions() {
        let (a, b) = crate::model::seeded(1, || {
            (Tensor::randn([5, 3], (Kind::Float, Device::Cpu)), Tensor::randn([3, 4], (Kind::Float, Device::Cpu)))
        });
        let v = |t: &Tensor| Vec::<f32>::try_from(t.contiguous().view([-1])).unwrap();
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let sa = if ta { a.tr().contiguous() } else { a.shallow_clone() };
            let sb = if tb { b.tr().contiguous() } else { b.shallow_clone() };
            let mut c = vec![1.0f32; 20];
            gemm(ta, tb, 5, 4, 3, 2.0, &v(&sa), &v(&sb), 0.5, &mut c);
            let expect = v(&(a.matmul(&b) * 2.0 + 0.5));
            for (x, y) in c.iter().zip(&expect) {
                assert!((x - y).abs() < 1e-5, "ta {ta} tb {tb}: {x} vs {y}");
            }
        }
    }

    fn check(config: ModelConfig, kind: FieldKind) {
        let dims = Dims::new(&config, kind);
        let n = 6;
        let params = initial_weights(config, kind, &[4], Device::Cpu);
        let x2 = crate::model::seeded(9, || Tensor::rand([1, 2 * n as i64, config.input_dim], (Kind::Float, Device::Cpu)) * 0.5);
        let w = LossWeights::default();
        let fast = kind.dynamics().fast_path().expect("a fast path");
        let (theirs, terms) = loss_gradient(&config.layout(kind), &params, fast, &x2, 1.0 / 10.0, &w);
        let mut ws = Workspace::new(dims.clone(), n);
        ws.x2.as_mut_slice().copy_from_slice(&Vec::<f32>::try_from(x2.view([-1])).unwrap());
        let flat: Vec<Vec<f32>> = params.iter().map(|t| Vec::<f32>::try_from(t.view([-1])).unwrap()).collect();
        let p: Vec<&[f32]> = flat.iter().map(Vec::as_slice).collect();
        let ours_terms = ws.loss_gradient(&p, 0.1, &w);
        for (a, b) in ours_terms.iter().zip([terms.ae.double_value(&[0]), terms.cc.double_value(&[0]), terms.latent.double_value(&[0])]) {
            assert!((a - b).abs() < 1e-5 * b.abs().max(1e-3), "{kind:?}: term {a} vs {b}");
        }
        for (i, (&(off, size), t)) in dims.offsets.iter().zip(&theirs).enumerate() {
            let t: Vec<f32> = Vec::try_from(t.view([-1])).unwrap();
            let ours = &ws.grad.as_slice()[off..off + size];
            let scale = t.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
            let err = ours.iter().zip(&t).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 2e-4 * scale, "{kind:?} parameter {i}: max error {err} (scale {scale})");
        }
    }

    #[test]
    fn the_cpu_step_equals_the_tensor_step() {
        let c = ModelConfig {
            input_dim: 32,
            frame_channels: 1,
            ae_hidden: 24,
            latent_dim: 2,
            field_hidden: 20,
            arch: Default::default(),
            field_settings: Default::default(),
        };
        check(c, FieldKind::Hnn);
        check(c, FieldKind::Baseline);
        let c4 = ModelConfig { latent_dim: 4, ..c };
        check(c4, FieldKind::Hnn);
        check(c4, FieldKind::Baseline);
    }
}
