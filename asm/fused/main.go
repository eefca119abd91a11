// Command fused generates the assembly of the fused VAE kernels
// (ReparamKL, ReparamKLBackward, BCEWithLogits, SquaredError, AdamStep,
// AddBias, SumRows) into package kernels: AVX2+FMA for all of them, and
// AVX-512F for the three built on exp (avx512.go), where it measured 1.45–1.7×
// faster. The AVX2 ReparamKL and BCEWithLogits take e^x and ln(1+x) from the
// shared emitters of asm/internal/vecmath.
//
// Every kernel makes one pass over memory: an unrolled loop of several
// vectors, a one-vector loop, and for the last elements either a scalar loop
// or one masked vector (VMASKMOVPS, or an opmask), so nothing is read or
// written outside the slices. Within each element all loads come before the
// store, so an output may be the same slice as an input. Sums accumulate in
// float64 lanes: each float32 term (or, where exact, its float32 operands) is
// widened with VCVTPS2PD and added into float64 accumulators, so a sum of n
// terms carries only the float32 error of each term plus float64 rounding,
// never float32 accumulation error.
package main

import (
	"fmt"
	"math"

	"github.com/fastvae/fastvae/asm/internal/vecmath"
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
	reparamKL512()
	reparamKLBackward512()
	bceWithLogits512()
	Generate()
}

// lanes is the number of float32 in a YMM register.
const lanes = 8

// unrollExp is how many vectors the exp-based kernels interleave: one exp
// is a dependency chain of some 50 cycles, and two independent chains keep
// the out-of-order scheduler fed; three need more than 16 YMM registers.
const unrollExp = 2

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
	y := YMM()
	VBROADCASTSS(paramAddr(name), y)
	return y
}

// paramAddr returns the address of the scalar parameter name.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
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
	TEXT("adamStepAVX2", NOSPLIT, "func(param, grad, m, v []float32, beta1, omb1, beta2, omb2, negStep, epsS float32)")
	Doc("adamStepAVX2 performs adamStepGeneric's float32 operations in the same order, without FMA, so it produces the same bits. The lengths are equal.")
	param := Load(Param("param").Base(), GP64())
	grad := Load(Param("grad").Base(), GP64())
	m := Load(Param("m").Base(), GP64())
	v := Load(Param("v").Base(), GP64())
	n := Load(Param("grad").Len(), GP64())
	beta1, omb1 := broadcast("beta1"), broadcast("omb1")
	beta2, omb2 := broadcast("beta2"), broadcast("omb2")
	negStep, epsS := broadcast("negStep"), broadcast("epsS")

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
		// p += (negStep·m)/(√v + epsS)
		o.sqrt(vv, vv)
		o.add(o.c(epsS), vv, vv)
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
	TEXT("sumRowsAVX2", NOSPLIT, "func(dst, src []float32, ld, rows int, acc []float64)")
	Pragma("noescape")
	Doc("sumRowsAVX2 sets dst to the column sums of the rows rows of src, ld apart, in the order of sumRowsGeneric, accumulating in acc. len(dst) > 0, rows > 0, len(src) ≥ (rows−1)·ld + len(dst), and len(acc) = len(dst).")
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	acc := Load(Param("acc").Base(), GP64())
	cols := Load(Param("dst").Len(), GP64())
	rowBytes := Load(Param("ld"), GP64())
	SHLQ(Imm(2), rowBytes)
	// end is where row rows would start: compared with, never read.
	end := Load(Param("rows"), GP64())
	IMULQ(rowBytes, end)
	ADDQ(src, end)

	// acc = 0
	zero := YMM()
	VXORPD(zero, zero, zero)
	stream("srzero", cols,
		loop{4, func(j reg.GPVirtual) { VMOVUPD(zero, Mem{Base: acc, Index: j, Scale: 8}) }},
		loop{1, func(j reg.GPVirtual) { VMOVSD(zero.AsX(), Mem{Base: acc, Index: j, Scale: 8}) }},
	)

	// Rows stream through once, in blocks of four: each block adds its four
	// rows pairwise in float32, (r0 + r1) + (r2 + r3), and that sum to acc
	// in float64 (halving the float64 conversions, which limit this loop);
	// the last rows are added to acc one by one.
	rowBlock := func(name string, rows int) {
		p := make([]reg.Register, rows)
		p[0] = src
		for r := 1; r < rows; r++ {
			p[r] = GP64()
			LEAQ(Mem{Base: p[r-1], Index: rowBytes, Scale: 1}, p[r])
		}
		cols8 := func(j reg.GPVirtual, k int) {
			x := YMM()
			VMOVUPS(at(p[0], j, k), x)
			if rows == 4 {
				y := YMM()
				VADDPS(at(p[1], j, k), x, x)
				VMOVUPS(at(p[2], j, k), y)
				VADDPS(at(p[3], j, k), y, y)
				VADDPS(y, x, x)
			}
			hi := XMM()
			VEXTRACTF128(Imm(1), x, hi)
			a0, a1 := YMM(), YMM()
			VCVTPS2PD(x.AsX(), a0)
			VCVTPS2PD(hi, a1)
			VADDPD(Mem{Base: acc, Index: j, Scale: 8, Disp: 8 * k}, a0, a0)
			VADDPD(Mem{Base: acc, Index: j, Scale: 8, Disp: 8*k + 32}, a1, a1)
			VMOVUPD(a0, Mem{Base: acc, Index: j, Scale: 8, Disp: 8 * k})
			VMOVUPD(a1, Mem{Base: acc, Index: j, Scale: 8, Disp: 8*k + 32})
		}
		stream(name, cols,
			loop{32, func(j reg.GPVirtual) {
				for k := 0; k < 32; k += 8 {
					cols8(j, k)
				}
			}},
			loop{8, func(j reg.GPVirtual) { cols8(j, 0) }},
			loop{1, func(j reg.GPVirtual) {
				x := XMM()
				VMOVSS(at(p[0], j, 0), x)
				if rows == 4 {
					y := XMM()
					VADDSS(at(p[1], j, 0), x, x)
					VMOVSS(at(p[2], j, 0), y)
					VADDSS(at(p[3], j, 0), y, y)
					VADDSS(y, x, x)
				}
				VCVTSS2SD(x, x, x)
				VADDSD(Mem{Base: acc, Index: j, Scale: 8}, x, x)
				VMOVSD(x, Mem{Base: acc, Index: j, Scale: 8})
			}},
		)
	}
	blockBytes := GP64()
	LEAQ(Mem{Base: rowBytes, Index: rowBytes, Scale: 2}, blockBytes) // 3 rows
	ADDQ(rowBytes, blockBytes)                                       // 4 rows
	Label("sumrows_by4")
	// Four more rows remain while src + 4·rowBytes ≤ end.
	next := GP64()
	LEAQ(Mem{Base: src, Index: blockBytes, Scale: 1}, next)
	CMPQ(next, end)
	JA(LabelRef("sumrows_by1"))
	rowBlock("srb4", 4)
	MOVQ(next, src)
	JMP(LabelRef("sumrows_by4"))
	Label("sumrows_by1")
	CMPQ(src, end)
	JAE(LabelRef("sumrows_round"))
	rowBlock("srb1", 1)
	ADDQ(rowBytes, src)
	JMP(LabelRef("sumrows_by1"))

	// dst = float32(acc)
	Label("sumrows_round")
	stream("srround", cols,
		loop{4, func(j reg.GPVirtual) {
			x := XMM()
			VCVTPD2PSY(Mem{Base: acc, Index: j, Scale: 8}, x)
			VMOVUPS(x, at(dst, j, 0))
		}},
		loop{1, func(j reg.GPVirtual) {
			x := XMM()
			VMOVSD(Mem{Base: acc, Index: j, Scale: 8}, x)
			VCVTSD2SS(x, x, x)
			VMOVSS(x, at(dst, j, 0))
		}},
	)
	VZEROUPPER()
	RET()
}

// vecStream runs body over n elements in whole vectors, unroll at a time and
// then one by one, and finally once with a mask over the last 1–7 elements
// (mask is nil for whole vectors). body handles the vectors at elements i+k
// for k in ks, interleaving their computations.
func vecStream(name string, n reg.Register, unroll int, body func(i reg.GPVirtual, ks []int, mask reg.VecVirtual)) {
	ks := make([]int, unroll)
	for k := range ks {
		ks[k] = lanes * k
	}
	stages := []loop{{unroll * lanes, func(i reg.GPVirtual) { body(i, ks, nil) }}}
	if unroll > 1 {
		stages = append(stages, loop{lanes, func(i reg.GPVirtual) { body(i, ks[:1], nil) }})
	}
	stream(name, n, stages...)
	// The vector stages stop with fewer than 8 elements left.
	rem := GP64()
	MOVQ(n, rem)
	ANDQ(Imm(lanes-1), rem)
	JZ(LabelRef(name + "_tail_done"))
	i := GP64()
	MOVQ(n, i)
	SUBQ(rem, i)
	mask := YMM()
	vecmath.TailMaskAVX2(mask, rem)
	body(i, ks[:1], mask)
	Label(name + "_tail_done")
}

// ld loads the vectors at elements i+k of base, masked when mask is not nil.
func ld(base, i reg.Register, ks []int, mask reg.VecVirtual) []reg.VecVirtual {
	ys := make([]reg.VecVirtual, len(ks))
	for j, k := range ks {
		ys[j] = YMM()
		if mask == nil {
			VMOVUPS(at(base, i, k), ys[j])
		} else {
			VMASKMOVPS(at(base, i, k), mask, ys[j])
		}
	}
	return ys
}

// st stores ys at elements i+k of base, masked when mask is not nil.
func st(ys []reg.VecVirtual, base, i reg.Register, ks []int, mask reg.VecVirtual) {
	for j, k := range ks {
		if mask == nil {
			VMOVUPS(ys[j], at(base, i, k))
		} else {
			VMASKMOVPS(ys[j], mask, at(base, i, k))
		}
	}
}

// each emits f for j = 0 … n−1: one step of all interleaved vectors.
func each(n int, f func(j int)) {
	for j := range n {
		f(j)
	}
}

// ymms returns n new YMM registers.
func ymms(n int) []reg.VecVirtual {
	v := make([]reg.VecVirtual, n)
	for j := range v {
		v[j] = YMM()
	}
	return v
}

func reparamKL() {
	TEXT("reparamKLAVX2", NOSPLIT, "func(z, mu, logvar, eps []float32) float64")
	Doc("reparamKLAVX2 sets z = mu + eps·exp(logvar/2) and returns ½Σ(mu² + e^logvar − 1 − logvar), accumulated in float64. The lengths are equal.")
	z := Load(Param("z").Base(), GP64())
	mu := Load(Param("mu").Base(), GP64())
	logvar := Load(Param("logvar").Base(), GP64())
	eps := Load(Param("eps").Base(), GP64())
	n := Load(Param("z").Len(), GP64())
	accs := zeroed(2)

	vecStream("kl", n, unrollExp, func(i reg.GPVirtual, ks []int, mask reg.VecVirtual) {
		// Masked-off lanes load 0: mu = logvar = 0 adds a zero term. Every
		// input is loaded before z is stored: z may alias any of them.
		u := len(ks)
		lv := ld(logvar, i, ks, mask)
		sv := ymms(u)
		each(u, func(j int) { VMULPS(f32(0.5), lv[j], sv[j]) })
		expBranchy("kl", sv) // s = e^(logvar/2), the exp every kernel family shares
		y := ymms(u)

		// Per-element term mu² + h with h = e^lv − 1 − lv. Where −1 < lv < 2
		// (|lv − 0.5| < 1.5) h = lv²·Q(lv), free of the cancellation of
		// e^lv − 1 − lv near 0. Elsewhere h = s² − (1 + lv), with s² = e^lv
		// squared exactly in float64 (so no overflow below lv = 177), and
		// the cancellation bounded by e^lv/h ≤ 1.7.
		q := horner(lv, klQ)
		a := ymms(u)
		each(u, func(j int) {
			VMULPS(lv[j], lv[j], a[j])
			VMULPS(a[j], q[j], q[j]) // h inside
		})
		inside := y // y is free again
		each(u, func(j int) {
			VSUBPS(f32(0.5), lv[j], inside[j])
			VANDPS(f32(math.Float32frombits(0x7fffffff)), inside[j], inside[j])
			VCMPPS(Imm(0x11), f32(1.5), inside[j], inside[j]) // |lv−0.5| < 1.5, false for NaN
		})
		each(u, func(j int) {
			VADDPS(f32(1), lv[j], a[j])
			VMINPS(f32(201), a[j], a[j])      // keeps +Inf − Inf out at logvar = +Inf
			VXORPS(splat(signBt), a[j], a[j]) // −(1 + lv)
			VBLENDVPS(inside[j], q[j], a[j], a[j])
		})
		m := ld(mu, i, ks, mask)
		each(u, func(j int) {
			VFMADD231PS(m[j], m[j], a[j])        // + mu²
			VANDNPS(sv[j], inside[j], inside[j]) // inside ? 0 : s
		})
		each(u, func(j int) {
			cvtAdd(a[j], accs[0], accs[1], false)
			cvtAdd(inside[j], accs[0], accs[1], true)
		})
		e := ld(eps, i, ks, mask)
		each(u, func(j int) { VFMADD213PS(m[j], sv[j], e[j]) }) // z = s·eps + mu
		st(e, z, i, ks, mask)
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

// expLabels numbers the labels of expBranchy.
var expLabels int

// expBranchy replaces the lanes of xs by e^x with vecmath's Exp, taking its
// cheaper in-range variant (no clamp, one-step scaling: the same bits) when
// every lane has |x| ≤ vecmath.InRangeMax, as nearly all do in training.
func expBranchy(name string, xs []reg.VecVirtual) {
	expLabels++
	slow := fmt.Sprintf("%s_exp%d_slow", name, expLabels)
	join := fmt.Sprintf("%s_exp%d_join", name, expLabels)
	ops := make([]Op, len(xs))
	for j, x := range xs {
		ops[j] = x
	}
	vecmath.BranchIfOutOfRangeAVX2(slow, ops...)
	vecmath.ExpInRangeAVX2(xs)
	JMP(LabelRef(join))
	Label(slow)
	vecmath.ExpAVX2(xs)
	Label(join)
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

	vecStream("klb", n, unrollExp, func(i reg.GPVirtual, ks []int, mask reg.VecVirtual) {
		// Every input is loaded before either output is stored: each output
		// may alias any one input.
		u := len(ks)
		s := ld(logvar, i, ks, mask)
		each(u, func(j int) { VMULPS(f32(0.5), s[j], s[j]) })
		sm1 := vecmath.ExpExpm1AVX2(s) // s = e^(logvar/2)
		// e^lv − 1 = (s − 1)(s + 1), without cancellation near lv = 0.
		k0 := ymms(u)
		each(u, func(j int) {
			VADDPS(f32(1), s[j], k0[j])
			VMULPS(k0[j], sm1[j], sm1[j]) // e^lv − 1
			VBROADCASTSS(paramAddr("beta"), k0[j])
			VMULPS(f32(0.5), k0[j], k0[j]) // ½β
		})
		g := ld(dz, i, ks, mask)
		e := ld(eps, i, ks, mask)
		each(u, func(j int) {
			// ½·dz·eps·s + ½β·(e^lv − 1)
			VMULPS(f32(0.5), e[j], e[j])
			VMULPS(g[j], e[j], e[j])
			VMULPS(s[j], e[j], e[j])
			VFMADD231PS(k0[j], sm1[j], e[j])
		})
		m := ld(mu, i, ks, mask)
		each(u, func(j int) {
			VBROADCASTSS(paramAddr("beta"), k0[j])
			VFMADD213PS(g[j], k0[j], m[j]) // dmu = beta·mu + dz
		})
		st(m, dmu, i, ks, mask)
		st(e, dlv, i, ks, mask)
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
	accs := zeroed(2)

	vecStream("bce", n, unrollExp, func(i reg.GPVirtual, ks []int, mask reg.VecVirtual) {
		u := len(ks)
		l := ld(logits, i, ks, mask)
		ev := ymms(u)
		each(u, func(j int) { VORPS(splat(signBt), l[j], ev[j]) }) // −|l|
		expBranchy("bce", ev)                                      // e = e^−|l| in [0, 1]
		// q = sigmoid(−|l|) = e/(1+e).
		q := ymms(u)
		each(u, func(j int) {
			VADDPS(f32(1), ev[j], q[j])
			VDIVPS(q[j], ev[j], q[j])
		})
		// c = step(l) − t with the step from the sign bit (−0 counts as
		// negative): l·c = max(l,0) − t·l ≥ 0 without cancellation, and
		// sigmoid(l) − t = c − q for l ≥ +0, c + q below.
		t := ld(target, i, ks, mask)
		c := t
		each(u, func(j int) {
			one := YMM()
			VBROADCASTSS(f32(1), one)
			VBLENDVPS(l[j], f32(0), one, one) // sign(l) ? 0 : 1
			VSUBPS(t[j], one, c[j])
		})
		d := ymms(u)
		each(u, func(j int) {
			VANDPS(splat(signBt), l[j], d[j])
			VXORPS(splat(signBt), d[j], d[j]) // sign bit set where l ≥ +0
			VXORPS(q[j], d[j], d[j])          // ∓q
			VADDPS(c[j], d[j], d[j])
			VMULPS(scale, d[j], d[j])
		})
		// Stored now to free registers; l and c stay in registers, so
		// dlogits may alias logits or target.
		st(d, dl, i, ks, mask)
		sp := vecmath.Log1pUnitAVX2(ev) // ln(1 + e)
		each(u, func(j int) {
			VFMADD231PS(l[j], c[j], sp[j]) // + l·c
			if mask != nil {
				VANDPS(mask, sp[j], sp[j]) // masked-off lanes loaded l = 0: ln 2
			}
			cvtAdd(sp[j], accs[0], accs[1], false)
		})
	})
	sum := reduceSum(accs, zeroedX())
	Store(sum, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
