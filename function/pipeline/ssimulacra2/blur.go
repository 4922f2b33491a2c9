package ssimulacra2

import "math"

// The metric's Gaussian blur (sigma 1.5) as the reference tool computes it:
// Charalampidis' recursive approximation by three truncated cosines
// ("Recursive Implementation of the Gaussian Filter Using Truncated Cosine
// Functions", 2016), rows then columns, with zeros outside the image. A
// recursive filter costs the same per pixel whatever sigma, and matching the
// tool's filter (rather than any Gaussian) keeps the scores equal.
const blurSigma = 1.5

// gauss holds the filter's constants: each of the three cosine terms k is
// y_k[n] = n2[k]*(in[n-radius-1] + in[n+radius-1]) - d1[k]*y_k[n-1] - y_k[n-2],
// and the output at n is the sum of the three terms. The rows are filtered
// four outputs at a time, the tool's unrolling: mulIn, mulPrev and mulPrev2
// are the weights of the four inputs and the two previous outputs in each.
// The constants are float32 values held in float64 (see round).
type gauss struct {
	radius                   int
	n2, d1                   [3]float64
	mulIn, mulPrev, mulPrev2 [3][4]float64
}

var blurFilter = newGauss(blurSigma)

func newGauss(sigma float64) gauss {
	radius := math.Round(3.2795*sigma + 0.2546) // the paper's (57)
	var omega, p, r, rho [3]float64
	for i, k := range []float64{1, 3, 5} {
		omega[i] = k * math.Pi / (2 * radius)
		sign := 1.0
		if k == 3 {
			sign = -1
		}
		p[i] = sign / math.Tan(omega[i]/2)             // (37)
		r[i] = sign * p[i] * p[i] / math.Sin(omega[i]) // (44)
		rho[i] = math.Exp(-0.5*sigma*sigma*omega[i]*omega[i]) / radius
	}
	// Solve (53) for the weights beta of the three terms, which make the
	// filter sum to 1 and give it the variance sigma^2.
	d13 := p[0]*r[1] - r[0]*p[1]
	zeta15 := (p[1]*r[2] - r[1]*p[2]) / d13
	zeta35 := (p[2]*r[0] - r[2]*p[0]) / d13
	a := [3][3]float64{{p[0], p[1], p[2]}, {r[0], r[1], r[2]}, {zeta15, zeta35, 1}}
	gamma := [3]float64{1, radius*radius - sigma*sigma, zeta15*rho[0] + zeta35*rho[1] + rho[2]}
	beta := solve3(a, gamma)
	g := gauss{radius: int(radius)}
	for i := range 3 {
		n2 := -beta[i] * math.Cos(omega[i]*(radius+1)) // (33)
		d1 := -2 * math.Cos(omega[i])
		g.n2[i], g.d1[i] = round(n2), round(d1)
		// Four steps of the recursion expanded, for outputs n..n+3.
		dd := d1 * d1
		g.mulPrev[i] = round4(-d1, dd-1, -dd*d1+2*d1, dd*dd-3*dd+1)
		g.mulPrev2[i] = round4(-1, d1, -dd+1, dd*d1-2*d1)
		g.mulIn[i] = round4(n2, -d1*n2, dd*n2-n2, -dd*d1*n2+2*d1*n2)
	}
	return g
}

// solve3 solves a x = b by Cramer's rule.
func solve3(a [3][3]float64, b [3]float64) [3]float64 {
	det := func(m [3][3]float64) float64 {
		return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
			m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
			m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	}
	d := det(a)
	var x [3]float64
	for col := range 3 {
		m := a
		for row := range 3 {
			m[row][col] = b[row]
		}
		x[col] = det(m) / d
	}
	return x
}

// blurrer blurs planes of one size, reusing its scratch rows.
type blurrer struct {
	w, h  int
	tmp   []float32
	state [6][]float64 // the column pass's y_k[n-1] and y_k[n-2] per column
}

func newBlurrer(w, h int) *blurrer {
	b := &blurrer{w: w, h: h, tmp: make([]float32, w*h)}
	buf := make([]float64, 6*w)
	for i := range b.state {
		b.state[i] = buf[i*w : (i+1)*w]
	}
	return b
}

// blur filters in into out (allocated when nil) and returns out.
func (b *blurrer) blur(in, out []float32) []float32 {
	if out == nil {
		out = make([]float32, b.w*b.h)
	}
	for y := range b.h {
		rows(&blurFilter, in[y*b.w:(y+1)*b.w], b.tmp[y*b.w:(y+1)*b.w])
	}
	b.columns(b.tmp, out)
	return out
}

// The blur computes in float32 as the tool does, with its fused
// multiply-adds: the metric's SSIM terms at coarse scales are differences of
// nearly equal blurred values, so float rounding shows in the score, and the
// same rounding keeps it equal to the tool's. Values are float32 numbers held
// in float64: a product of two of them is exact in float64, so one rounding
// of a*b+c to float32 is exactly a fused float32 multiply-add.
func round(v float64) float64 { return float64(float32(v)) }

// fma32 is a fused float32 multiply-add.
func fma32(a, b, c float32) float32 { return float32(float64(a)*float64(b) + float64(c)) }

func round4(a, b, c, d float64) [4]float64 { return [4]float64{round(a), round(b), round(c), round(d)} }

// rows filters one row in the tool's order of operations: single outputs
// near the ends, four at a time in between.
func rows(g *gauss, in, out []float32) {
	size, rad := len(in), g.radius
	var st rowState
	n := -rad + 1
	for ; n < min(roundUp4(rad+1), size); n++ {
		st.single(g, in, out, n)
	}
	for ; n < size-rad+1-3; n += 4 {
		l, r := in[n-rad-1:n-rad+3], in[n+rad-1:n+rad+3]
		s0, s1 := float64(l[0]+r[0]), float64(l[1]+r[1])
		s2, s3 := float64(l[2]+r[2]), float64(l[3]+r[3])
		a0, a1, a2, a3 := st.quad(g, 0, s0, s1, s2, s3)
		b0, b1, b2, b3 := st.quad(g, 1, s0, s1, s2, s3)
		c0, c1, c2, c3 := st.quad(g, 2, s0, s1, s2, s3)
		o := out[n : n+4]
		o[0] = float32(a0 + round(b0+c0))
		o[1] = float32(a1 + round(b1+c1))
		o[2] = float32(a2 + round(b2+c2))
		o[3] = float32(a3 + round(b3+c3))
	}
	for ; n < size; n++ {
		st.single(g, in, out, n)
	}
}

// rowState is y_k[n-1] and y_k[n-2] of the three terms.
type rowState struct{ prev, prev2 [3]float64 }

// single computes output n (when n >= 0), with zeros outside the row.
func (st *rowState) single(g *gauss, in, out []float32, n int) {
	var sum float32
	if i := n - g.radius - 1; i >= 0 && i < len(in) {
		sum = in[i]
	}
	if i := n + g.radius - 1; i >= 0 && i < len(in) {
		sum += in[i]
	}
	var y [3]float64
	for k := range 3 {
		v := round(float64(sum) * g.mulIn[k][0])
		v = round(g.mulPrev2[k][0]*st.prev2[k] + v)
		st.prev2[k] = st.prev[k]
		v = round(g.mulPrev[k][0]*st.prev[k] + v)
		st.prev[k], y[k] = v, v
	}
	if n >= 0 {
		out[n] = float32(y[0] + round(y[1]+y[2]))
	}
}

// quad computes four consecutive outputs of term k from the sums of their
// inputs s0..s3: output j weighs input m by mulIn[j-m].
func (st *rowState) quad(g *gauss, k int, s0, s1, s2, s3 float64) (y0, y1, y2, y3 float64) {
	mi, mp, mp2 := &g.mulIn[k], &g.mulPrev[k], &g.mulPrev2[k]
	p, pp := st.prev[k], st.prev2[k]
	y0 = round(s0 * mi[0])
	y0 = round(mp2[0]*pp + y0)
	y0 = round(mp[0]*p + y0)
	y1 = round(s0 * mi[1])
	y1 = round(mi[0]*s1 + y1)
	y1 = round(mp2[1]*pp + y1)
	y1 = round(mp[1]*p + y1)
	y2 = round(s0 * mi[2])
	y2 = round(mi[1]*s1 + y2)
	y2 = round(mi[0]*s2 + y2)
	y2 = round(mp2[2]*pp + y2)
	y2 = round(mp[2]*p + y2)
	y3 = round(s0 * mi[3])
	y3 = round(mi[2]*s1 + y3)
	y3 = round(mi[1]*s2 + y3)
	y3 = round(mi[0]*s3 + y3)
	y3 = round(mp2[3]*pp + y3)
	y3 = round(mp[3]*p + y3)
	st.prev2[k], st.prev[k] = y2, y3
	return y0, y1, y2, y3
}

func roundUp4(v int) int { return (v + 3) &^ 3 }

// columns filters every column at once, row by row, so memory is read in
// order.
func (b *blurrer) columns(in, out []float32) {
	g := &blurFilter
	w, h, rad := b.w, b.h, g.radius
	for i := range b.state {
		clear(b.state[i])
	}
	pa, pb, pc, ppa, ppb, ppc := b.state[0], b.state[1], b.state[2], b.state[3], b.state[4], b.state[5]
	n2a, n2b, n2c := g.n2[0], g.n2[1], g.n2[2]
	d1a, d1b, d1c := -g.d1[0], -g.d1[1], -g.d1[2]
	zero := make([]float32, w)
	row := func(y int) []float32 {
		if y < 0 || y >= h {
			return zero
		}
		return in[y*w : (y+1)*w]
	}
	for n := -rad + 1; n < h; n++ {
		top, bottom := row(n-rad-1), row(n+rad-1)
		var dst []float32
		if n >= 0 {
			dst = out[n*w : (n+1)*w]
		}
		pb, pc, ppa, ppb, ppc := pb[:w], pc[:w], ppa[:w], ppb[:w], ppc[:w]
		top, bottom = top[:w], bottom[:w]
		for x := range pa[:w] {
			sum := float64(top[x] + bottom[x])
			ya := round(n2a*sum + round(d1a*pa[x]-ppa[x]))
			yb := round(n2b*sum + round(d1b*pb[x]-ppb[x]))
			yc := round(n2c*sum + round(d1c*pc[x]-ppc[x]))
			ppa[x], ppb[x], ppc[x] = pa[x], pb[x], pc[x]
			pa[x], pb[x], pc[x] = ya, yb, yc
			if dst != nil {
				dst[x] = float32(ya + round(yb+yc))
			}
		}
	}
}
