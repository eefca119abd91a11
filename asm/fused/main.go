// Command fused generates the AVX2+FMA assembly of the fused VAE kernels
// (ReparamKL, ReparamKLBackward, BCEWithLogits, SquaredError, AdamStep,
// AddBias, SumRows) into package kernels.
//
// Every kernel makes one pass over memory: an unrolled loop of several YMM
// vectors, a one-vector loop, and a scalar loop for the last elements, so
// nothing is read or written outside the slices. Within each element all
// loads come before the store, so an output may be the same slice as an
// input. Sums accumulate in float64 lanes: each float32 term (or, where
// exact, its float32 operands) is widened with VCVTPS2PD and added into
// float64 accumulators, so a sum of n terms carries only the float32 error
// of each term plus float64 rounding, never float32 accumulation error.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64,gc,!purego,!noasm")
	squaredError()
	adamStep()
	addBias()
	sumRows()
	reparamKL()
	reparamKLBackward()
	bceWithLogits()
	Generate()
}

// lanes is the number of float32 in a YMM register.
const lanes = 8

// at addresses element i (plus k further elements) of the float32 slice at base.
func at(base, i reg.Register, k int) Mem {
	return Mem{Base: base, Index: i, Scale: 4, Disp: 4 * k}
}

// loop is one stage of a streaming kernel: it runs body for width elements
// at index i while at least width elements remain.
type loop struct {
	width int
	body  func(i reg.GPVirtual)
}

// stream emits the stages in order (widest first) over n elements, with a
// fresh index register starting at 0.
func stream(name string, n reg.Register, stages ...loop) {
	i := GP64()
	XORQ(i, i)
	end := GP64()
	for k, st := range stages {
		top := fmt.Sprintf("%s_w%d", name, st.width)
		next := fmt.Sprintf("%s_w%d_done", name, st.width)
		Label(top)
		MOVQ(i, end)
		ADDQ(Imm(uint64(st.width)), end)
		CMPQ(end, n)
		JA(LabelRef(next))
		st.body(i)
		MOVQ(end, i)
		JMP(LabelRef(top))
		Label(next)
		_ = k
	}
}

// broadcast loads the float32 parameter name into every lane of a new YMM.
func broadcast(name string) reg.VecVirtual {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	y := YMM()
	VBROADCASTSS(b.Addr, y)
	return y
}

// zeroed returns n new YMM registers set to zero.
func zeroed(n int) []reg.VecVirtual {
	v := make([]reg.VecVirtual, n)
	for k := range v {
		v[k] = YMM()
		VXORPD(v[k], v[k], v[k])
	}
	return v
}

// reduceSum adds the float64 accumulators pairwise in a fixed tree, then the
// four lanes of the result, then scalar (a float64 in the low lane of an
// XMM), and returns the XMM holding the total in its low lane.
func reduceSum(accs []reg.VecVirtual, scalar reg.VecVirtual) reg.VecVirtual {
	for len(accs) > 1 {
		var next []reg.VecVirtual
		for k := 0; k+1 < len(accs); k += 2 {
			VADDPD(accs[k+1], accs[k], accs[k])
			next = append(next, accs[k])
		}
		if len(accs)%2 == 1 {
			next = append(next, accs[len(accs)-1])
		}
		accs = next
	}
	hi := XMM()
	VEXTRACTF128(Imm(1), accs[0], hi)
	lo := accs[0].AsX()
	VADDPD(hi, lo, lo)
	VUNPCKHPD(lo, lo, hi)
	VADDSD(hi, lo, lo)
	VADDSD(scalar, lo, lo)
	return lo.(reg.VecVirtual)
}

func squaredError() {
	TEXT("squaredErrorAVX2", NOSPLIT, "func(dout, out, target []float32, scale float32) float64")
	Doc("squaredErrorAVX2 returns Σ(out−target)²/2, each exact difference squared and added in float64, and sets dout = scale·(out−target) rounded from float32 o−t. The lengths are equal.")
	dout := Load(Param("dout").Base(), GP64())
	out := Load(Param("out").Base(), GP64())
	target := Load(Param("target").Base(), GP64())
	n := Load(Param("out").Len(), GP64())
	scale := broadcast("scale")
	const unroll = 4
	accs := zeroed(2 * unroll)
	sacc := XMM()
	VXORPD(sacc, sacc, sacc)

	// vectors handles count vectors at i: the float64 half first (o − t is
	// exact in float64 and its square is added with one rounding), reading
	// every element before any store.
	vectors := func(count int) func(i reg.GPVirtual) {
		return func(i reg.GPVirtual) {
			for h := range 2 * count {
				o, t := YMM(), YMM()
				VCVTPS2PD(at(out, i, 4*h), o)
				VCVTPS2PD(at(target, i, 4*h), t)
				VSUBPD(t, o, o)
				VFMADD231PD(o, o, accs[h])
			}
			for k := range count {
				d := YMM()
				VMOVUPS(at(out, i, lanes*k), d)
				VSUBPS(at(target, i, lanes*k), d, d)
				VMULPS(scale, d, d)
				VMOVUPS(d, at(dout, i, lanes*k))
			}
		}
	}
	stream("se", n,
		loop{unroll * lanes, vectors(unroll)},
		loop{lanes, vectors(1)},
		loop{1, func(i reg.GPVirtual) {
			o, t, d := XMM(), XMM(), XMM()
			VCVTSS2SD(at(out, i, 0), o, o)
			VCVTSS2SD(at(target, i, 0), t, t)
			VSUBSD(t, o, o)
			VFMADD231SD(o, o, sacc)
			VMOVSS(at(out, i, 0), d)
			VSUBSS(at(target, i, 0), d, d)
			VMULSS(scale.AsX(), d, d)
			VMOVSS(d, at(dout, i, 0))
		}},
	)
	sum := reduceSum(accs, sacc)
	half, bits := XMM(), GP64()
	MOVQ(U64(0x3fe0000000000000), bits) // float64 0.5: an exact scaling
	MOVQ(bits, half)
	VMULSD(half, sum, sum)
	Store(sum, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func adamStep() {
	TEXT("adamStepAVX2", NOSPLIT, "func(param, grad, m, v []float32, beta1, omb1, beta2, omb2, negStep, sqrtBias2, eps float32)")
	Doc("adamStepAVX2 performs adamStepGeneric's float32 operations in the same order, without FMA, so it produces the same bits. The lengths are equal.")
	param := Load(Param("param").Base(), GP64())
	grad := Load(Param("grad").Base(), GP64())
	m := Load(Param("m").Base(), GP64())
	v := Load(Param("v").Base(), GP64())
	n := Load(Param("grad").Len(), GP64())
	beta1, omb1 := broadcast("beta1"), broadcast("omb1")
	beta2, omb2 := broadcast("beta2"), broadcast("omb2")
	negStep, sqrtBias2, eps := broadcast("negStep"), broadcast("sqrtBias2"), broadcast("eps")

	// update emits one Adam update of the elements at i with the given move
	// (VMOVUPS or VMOVSS) and arithmetic width (packed or scalar ops).
	type ops struct {
		mov, mul, add, div, sqrt func(...Op)
		reg                      func() reg.VecVirtual
		c                        func(reg.VecVirtual) reg.VecVirtual
	}
	packed := ops{
		mov: func(a ...Op) { VMOVUPS(a[0], a[1]) }, mul: func(a ...Op) { VMULPS(a...) }, add: func(a ...Op) { VADDPS(a...) },
		div: func(a ...Op) { VDIVPS(a...) }, sqrt: func(a ...Op) { VSQRTPS(a...) },
		reg: YMM, c: func(y reg.VecVirtual) reg.VecVirtual { return y },
	}
	scalar := ops{
		mov: func(a ...Op) { VMOVSS(a[0], a[1]) }, mul: func(a ...Op) { VMULSS(a...) }, add: func(a ...Op) { VADDSS(a...) },
		div: func(a ...Op) { VDIVSS(a...) }, sqrt: func(a ...Op) { VSQRTSS(a[0], a[1], a[1]) },
		reg: XMM, c: func(y reg.VecVirtual) reg.VecVirtual { return y.AsX().(reg.VecVirtual) },
	}
	update := func(o ops, i reg.GPVirtual, k int) {
		g, mm, vv, t := o.reg(), o.reg(), o.reg(), o.reg()
		o.mov(at(grad, i, k), g)
		o.mov(at(m, i, k), mm)
		o.mov(at(v, i, k), vv)
		// m = β1·m + (1−β1)·g
		o.mul(o.c(beta1), mm, mm)
		o.mul(o.c(omb1), g, t)
		o.add(t, mm, mm)
		// v = β2·v + ((1−β2)·g)·g
		o.mul(o.c(beta2), vv, vv)
		o.mul(o.c(omb2), g, t)
		o.mul(g, t, t)
		o.add(t, vv, vv)
		o.mov(mm, at(m, i, k))
		o.mov(vv, at(v, i, k))
		// denom = √v/√bias2 + eps; p += (−stepSize·m)/denom
		o.sqrt(vv, vv)
		o.div(o.c(sqrtBias2), vv, vv)
		o.add(o.c(eps), vv, vv)
		o.mul(o.c(negStep), mm, mm)
		o.div(vv, mm, mm)
		o.mov(at(param, i, k), t)
		o.add(mm, t, t)
		o.mov(t, at(param, i, k))
	}
	const unroll = 2
	stream("adam", n,
		loop{unroll * lanes, func(i reg.GPVirtual) {
			for k := range unroll {
				update(packed, i, lanes*k)
			}
		}},
		loop{lanes, func(i reg.GPVirtual) { update(packed, i, 0) }},
		loop{1, func(i reg.GPVirtual) { update(scalar, i, 0) }},
	)
	VZEROUPPER()
	RET()
}

func addBias() {
	TEXT("addBiasAVX2", NOSPLIT, "func(y, bias []float32)")
	Doc("addBiasAVX2 adds bias to every row of y. len(y) is a multiple of len(bias), and len(bias) > 0 unless len(y) == 0.")
	y := Load(Param("y").Base(), GP64())
	bias := Load(Param("bias").Base(), GP64())
	cols := Load(Param("bias").Len(), GP64())
	n := Load(Param("y").Len(), GP64())
	// end = y + 4·len(y); rows advance y by 4·cols bytes until it reaches end.
	end := GP64()
	LEAQ(Mem{Base: y, Index: n, Scale: 4}, end)
	rowBytes := GP64()
	MOVQ(cols, rowBytes)
	SHLQ(Imm(2), rowBytes)

	Label("addbias_row")
	CMPQ(y, end)
	JAE(LabelRef("addbias_done"))
	vectors := func(count int) func(i reg.GPVirtual) {
		return func(i reg.GPVirtual) {
			for k := range count {
				x := YMM()
				VMOVUPS(at(y, i, lanes*k), x)
				VADDPS(at(bias, i, lanes*k), x, x)
				VMOVUPS(x, at(y, i, lanes*k))
			}
		}
	}
	stream("addbias", cols,
		loop{4 * lanes, vectors(4)},
		loop{lanes, vectors(1)},
		loop{1, func(i reg.GPVirtual) {
			x := XMM()
			VMOVSS(at(y, i, 0), x)
			VADDSS(at(bias, i, 0), x, x)
			VMOVSS(x, at(y, i, 0))
		}},
	)
	ADDQ(rowBytes, y)
	JMP(LabelRef("addbias_row"))

	Label("addbias_done")
	VZEROUPPER()
	RET()
}

func sumRows() {
	TEXT("sumRowsAVX2", NOSPLIT, "func(dst, src []float32)")
	Doc("sumRowsAVX2 sets dst to the column sums of src, added in float64 from the first row to the last and rounded once, as sumRowsGeneric does. len(src) is a multiple of len(dst).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	cols := Load(Param("dst").Len(), GP64())
	n := Load(Param("src").Len(), GP64())
	end := GP64()
	LEAQ(Mem{Base: src, Index: n, Scale: 4}, end)
	rowBytes := GP64()
	MOVQ(cols, rowBytes)
	SHLQ(Imm(2), rowBytes)

	// Each column block keeps its float64 sums in registers while p walks
	// down the rows from src+4·j.
	block := func(width int) func(j reg.GPVirtual) {
		return func(j reg.GPVirtual) {
			accs := zeroed(width / 4)
			p := GP64()
			LEAQ(Mem{Base: src, Index: j, Scale: 4}, p)
			rows := fmt.Sprintf("sumrows_w%d_rows", width)
			Label(rows)
			CMPQ(p, end)
			JAE(LabelRef(rows + "_done"))
			for k, a := range accs {
				x := YMM()
				VCVTPS2PD(Mem{Base: p, Disp: 16 * k}, x)
				VADDPD(x, a, a)
			}
			ADDQ(rowBytes, p)
			JMP(LabelRef(rows))
			Label(rows + "_done")
			for k, a := range accs {
				VCVTPD2PSY(a, a.AsX())
				VMOVUPS(a.AsX(), at(dst, j, 4*k))
			}
		}
	}
	stream("sumrows", cols,
		loop{32, block(32)},
		loop{4, block(4)},
		loop{1, func(j reg.GPVirtual) {
			a := XMM()
			VXORPD(a, a, a)
			p := GP64()
			LEAQ(Mem{Base: src, Index: j, Scale: 4}, p)
			Label("sumrows_w1_rows")
			CMPQ(p, end)
			JAE(LabelRef("sumrows_w1_rows_done"))
			x := XMM()
			VCVTSS2SD(Mem{Base: p}, x, x)
			VADDSD(x, a, a)
			ADDQ(rowBytes, p)
			JMP(LabelRef("sumrows_w1_rows"))
			Label("sumrows_w1_rows_done")
			VCVTSD2SS(a, a, a)
			VMOVSS(a, at(dst, j, 0))
		}},
	)
	VZEROUPPER()
	RET()
}

// vecStream runs body over n elements in whole vectors, unroll at a time and
// then one by one, and finally once with a mask over the last 1–7 elements
// (mask is nil for whole vectors). body handles the vector at element i+8k.
func vecStream(name string, n reg.Register, unroll int, body func(i reg.GPVirtual, k int, mask reg.VecVirtual)) {
	stages := []loop{{unroll * lanes, func(i reg.GPVirtual) {
		for k := range unroll {
			body(i, lanes*k, nil)
		}
	}}}
	if unroll > 1 {
		stages = append(stages, loop{lanes, func(i reg.GPVirtual) { body(i, 0, nil) }})
	}
	stream(name, n, stages...)
	// stream leaves its index at the first element not yet done; recover it
	// from n: the vector stages stop with fewer than 8 elements left.
	rem := GP64()
	MOVQ(n, rem)
	ANDQ(Imm(lanes-1), rem)
	JZ(LabelRef(name + "_tail_done"))
	i := GP64()
	MOVQ(n, i)
	SUBQ(rem, i)
	body(i, 0, loadTailMask(rem))
	Label(name + "_tail_done")
}

// ld loads the vector at element i+k of base, masked when mask is not nil.
func ld(base, i reg.Register, k int, mask reg.VecVirtual) reg.VecVirtual {
	y := YMM()
	if mask == nil {
		VMOVUPS(at(base, i, k), y)
	} else {
		VMASKMOVPS(at(base, i, k), mask, y)
	}
	return y
}

// st stores y at element i+k of base, masked when mask is not nil.
func st(y reg.VecVirtual, base, i reg.Register, k int, mask reg.VecVirtual) {
	if mask == nil {
		VMOVUPS(y, at(base, i, k))
	} else {
		VMASKMOVPS(y, mask, at(base, i, k))
	}
}

// clampRegs loads the exp clamp bounds into registers (VMAXPS/VMINPS need
// the NaN-carrying operand in the position a constant from memory can't take).
func clampRegs(withHi bool) (lo, hi reg.VecVirtual) {
	lo = YMM()
	VBROADCASTSS(f32(-104), lo)
	if withHi {
		hi = YMM()
		VBROADCASTSS(f32(89), hi)
	}
	return lo, hi
}

func reparamKL() {
	TEXT("reparamKLAVX2", NOSPLIT, "func(z, mu, logvar, eps []float32) float64")
	Doc("reparamKLAVX2 sets z = mu + eps·exp(logvar/2) and returns ½Σ(mu² + e^logvar − 1 − logvar), accumulated in float64. The lengths are equal.")
	z := Load(Param("z").Base(), GP64())
	mu := Load(Param("mu").Base(), GP64())
	logvar := Load(Param("logvar").Base(), GP64())
	eps := Load(Param("eps").Base(), GP64())
	n := Load(Param("z").Len(), GP64())
	lo, hi := clampRegs(true)
	accs := zeroed(2)

	vecStream("kl", n, 1, func(i reg.GPVirtual, k int, mask reg.VecVirtual) {
		// Masked-off lanes load 0: mu = logvar = 0 adds a zero term.
		lv := ld(logvar, i, k, mask)
		m := ld(mu, i, k, mask)
		e := ld(eps, i, k, mask)
		y := YMM()
		VMULPS(f32(0.5), lv, y)
		ex := exp(y, lo, hi)
		VFMADD213PS(m, ex.s, e) // z = s·eps + mu

		// Per-element term mu² + h with h = e^lv − 1 − lv. Where −1 < lv < 2
		// (|lv − 0.5| < 1.5) h = lv²·Q(lv), free of the cancellation of
		// e^lv − 1 − lv near 0. Elsewhere h = s² − (1 + lv), with s² = e^lv
		// squared exactly in float64 (so no overflow below lv = 177), and
		// the cancellation bounded by e^lv/h ≤ 1.7.
		inside := YMM()
		VSUBPS(f32(0.5), lv, inside)
		VANDPS(f32(math.Float32frombits(0x7fffffff)), inside, inside)
		VCMPPS(Imm(0x11), f32(1.5), inside, inside) // |lv−0.5| < 1.5, false for NaN
		q := horner(lv, klQ)
		l2 := YMM()
		VMULPS(lv, lv, l2)
		VMULPS(l2, q, q) // h inside
		a := YMM()
		VADDPS(f32(1), lv, a)
		VMINPS(f32(201), a, a)      // keeps +Inf − Inf out at logvar = +Inf
		VXORPS(splat(signBt), a, a) // −(1 + lv)
		VBLENDVPS(inside, q, a, a)  // inside ? h : −(1+lv)
		VFMADD231PS(m, m, a)        // + mu²
		b := YMM()
		VANDNPS(ex.s, inside, b) // inside ? 0 : s
		cvtAdd(a, accs[0], accs[1], false)
		cvtAdd(b, accs[0], accs[1], true)
		st(e, z, i, k, mask)
	})
	sum := reduceSum(accs, zeroedX())
	half, bits := XMM(), GP64()
	MOVQ(U64(0x3fe0000000000000), bits)
	MOVQ(bits, half)
	VMULSD(half, sum, sum)
	Store(sum, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// zeroedX returns a new XMM set to zero.
func zeroedX() reg.VecVirtual {
	x := XMM()
	VXORPD(x, x, x)
	return x
}

func reparamKLBackward() {
	TEXT("reparamKLBackwardAVX2", NOSPLIT, "func(dmu, dlogvar, dz, mu, logvar, eps []float32, beta float32)")
	Doc("reparamKLBackwardAVX2 sets dmu = dz + beta·mu and dlogvar = ½·dz·eps·s + ½·beta·(s² − 1) with s = exp(logvar/2). The lengths are equal.")
	dmu := Load(Param("dmu").Base(), GP64())
	dlv := Load(Param("dlogvar").Base(), GP64())
	dz := Load(Param("dz").Base(), GP64())
	mu := Load(Param("mu").Base(), GP64())
	logvar := Load(Param("logvar").Base(), GP64())
	eps := Load(Param("eps").Base(), GP64())
	n := Load(Param("dz").Len(), GP64())
	beta := broadcast("beta")
	lo, hi := clampRegs(true)

	vecStream("klb", n, 1, func(i reg.GPVirtual, k int, mask reg.VecVirtual) {
		lv := ld(logvar, i, k, mask)
		g := ld(dz, i, k, mask)
		m := ld(mu, i, k, mask)
		e := ld(eps, i, k, mask)
		y := YMM()
		VMULPS(f32(0.5), lv, y)
		ex := exp(y, lo, hi)
		VFMADD213PS(g, beta, m) // dmu = beta·mu + dz
		// e^lv − 1 = (s − 1)(s + 1), where s − 1 = P exactly when k = 0
		// (|logvar| ≤ ln 2) and otherwise s − 1 has no cancellation.
		sm1 := YMM()
		VSUBPS(f32(1), ex.s, sm1)
		k0 := YMM()
		VXORPS(k0, k0, k0)
		VCMPPS(Imm(0), k0, ex.kf, k0) // k == 0
		VBLENDVPS(k0, ex.p, sm1, sm1)
		sp1 := YMM()
		VADDPS(f32(1), ex.s, sp1)
		VMULPS(sp1, sm1, sm1) // e^lv − 1
		hb := YMM()
		VMULPS(f32(0.5), beta, hb)
		// ½·dz·eps·s + ½β·(e^lv − 1)
		VMULPS(f32(0.5), g, sp1)
		VMULPS(e, sp1, sp1)
		VMULPS(ex.s, sp1, sp1)
		VFMADD231PS(hb, sm1, sp1)
		st(m, dmu, i, k, mask)
		st(sp1, dlv, i, k, mask)
	})
	VZEROUPPER()
	RET()
}

func bceWithLogits() {
	TEXT("bceWithLogitsAVX2", NOSPLIT, "func(dlogits, logits, target []float32, scale float32) float64")
	Doc("bceWithLogitsAVX2 returns Σ softplus(l) − t·l, accumulated in float64, and sets dlogits = scale·(sigmoid(l) − t). The lengths are equal.")
	dl := Load(Param("dlogits").Base(), GP64())
	logits := Load(Param("logits").Base(), GP64())
	target := Load(Param("target").Base(), GP64())
	n := Load(Param("logits").Len(), GP64())
	scale := broadcast("scale")
	lo, _ := clampRegs(false)
	accs := zeroed(2)

	vecStream("bce", n, 1, func(i reg.GPVirtual, k int, mask reg.VecVirtual) {
		l := ld(logits, i, k, mask)
		t := ld(target, i, k, mask)
		x := YMM()
		VORPS(splat(signBt), l, x) // −|l|
		ex := exp(x, lo, nil)      // e = e^−|l| in [0, 1]
		e := ex.s
		// c = step(l) − t with the step from the sign bit (−0 counts as
		// negative): l·c = max(l,0) − t·l ≥ 0 without cancellation, and
		// sigmoid(l) − t = c − q for l ≥ +0, c + q below, q = e/(1+e).
		c := YMM()
		VXORPS(c, c, c)
		VBLENDVPS(l, c, f32One(), c) // sign(l) ? 0 : 1
		VSUBPS(t, c, c)
		q := YMM()
		VADDPS(f32(1), e, q)
		VDIVPS(q, e, q)
		sgn := YMM()
		VANDPS(splat(signBt), l, sgn)
		VXORPS(splat(signBt), sgn, sgn) // sign bit set where l ≥ +0
		VXORPS(sgn, q, q)               // ∓q
		VADDPS(c, q, q)
		VMULPS(scale, q, q)
		// loss = l·c + ln(1 + e)
		sp := log1p01(e)
		VFMADD231PS(l, c, sp)
		if mask != nil {
			VANDPS(mask, sp, sp) // masked-off lanes loaded l = 0: ln 2
		}
		cvtAdd(sp, accs[0], accs[1], false)
		st(q, dl, i, k, mask)
	})
	sum := reduceSum(accs, zeroedX())
	Store(sum, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// f32One returns a register holding 1 in every lane.
func f32One() reg.VecVirtual {
	y := YMM()
	VBROADCASTSS(f32(1), y)
	return y
}
