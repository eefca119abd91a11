package avx

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Tail says how a Loop handles the last elements, fewer than a vector.
type Tail int

const (
	// Masked handles them as one vector under a mask: VMASKMOVPS for YMM,
	// an opmask for ZMM. Masked-off lanes load as 0 and are not stored.
	Masked Tail = iota
	// Scalar handles them one at a time, in the low lane of an XMM register.
	Scalar
)

// Loop is a streaming loop over N elements: while Unroll vectors remain, a
// pass over Unroll vectors; while one remains, a pass over one; then the
// Tail. Nothing outside the N elements is read or written.
type Loop struct {
	Name   string       // label prefix, unique in the file
	N      reg.Register // the element count
	Width  Width
	Unroll int  // vectors per pass of the main loop; 1 leaves it out
	Tail   Tail // how the last elements are handled
	Elem   int  // bytes per element: 4 (float32) when 0, or 8 (float64)
}

// Step is one pass of a loop's body: the vectors at elements I+Offs[j], or
// in the tail the one masked vector or scalar at I.
type Step struct {
	I      reg.GPVirtual
	Offs   []int        // element offsets of the vectors from I
	Mask   reg.Register // in a masked tail, the mask; otherwise nil
	Scalar bool         // in a scalar tail: one element
	W      Width
	Elem   int
	label  string
}

// Emit emits the loop, with body emitting the work of each Step.
func (l Loop) Emit(body func(s Step)) {
	if l.Elem == 0 {
		l.Elem = 4
	}
	lanes := int(l.Width) / l.Elem
	i, rem := build.GP64(), build.GP64()
	build.XORQ(i, i)
	offs := make([]int, max(l.Unroll, 1))
	for j := range offs {
		offs[j] = lanes * j
	}
	label := func(s string) string { return l.Name + "_" + s }
	step := Step{I: i, W: l.Width, Elem: l.Elem}
	stage := func(name, next string, vectors int) {
		build.Label(label(name))
		build.MOVQ(l.N, rem)
		build.SUBQ(i, rem)
		build.CMPQ(rem, operand.U32(lanes*vectors))
		build.JB(operand.LabelRef(label(next)))
		s := step
		s.Offs, s.label = offs[:vectors], label(name)
		body(s)
		build.ADDQ(operand.U32(lanes*vectors), i)
		build.JMP(operand.LabelRef(label(name)))
	}
	if l.Unroll > 1 {
		stage("block", "vector", l.Unroll)
	}
	stage("vector", "tail", 1)

	build.Label(label("tail"))
	s := step
	s.Offs, s.label = offs[:1], label("tail")
	if l.Tail == Scalar {
		build.CMPQ(i, l.N)
		build.JAE(operand.LabelRef(label("done")))
		s.Scalar = true
		body(s)
		build.INCQ(i)
		build.JMP(operand.LabelRef(label("tail")))
	} else {
		build.MOVQ(l.N, rem)
		build.SUBQ(i, rem)
		build.JZ(operand.LabelRef(label("done")))
		if l.Width == ZMM {
			k := build.K()
			TailMaskAVX512(k, rem)
			s.Mask = k
		} else {
			m := build.YMM()
			TailMaskAVX2(m, rem)
			s.Mask = m
		}
		body(s)
	}
	build.Label(label("done"))
}

// Label returns a label name unique to this step, for branches in a body.
func (s Step) Label(name string) string { return s.label + "_" + name }

// Reg returns a new register of the step's width: an XMM in a scalar tail.
func (s Step) Reg() reg.VecVirtual {
	if s.Scalar {
		return build.XMM()
	}
	return s.W.Reg()
}

// Regs returns a new register of the step's width per vector.
func (s Step) Regs() []reg.VecVirtual {
	rs := make([]reg.VecVirtual, len(s.Offs))
	for j := range rs {
		rs[j] = s.Reg()
	}
	return rs
}

// At addresses vector j of the step in the slice at base.
func (s Step) At(base reg.Register, j int) operand.Mem {
	return operand.Mem{Base: base, Index: s.I, Scale: uint8(s.Elem), Disp: s.Elem * s.Offs[j]}
}

// Load loads the step's vectors of the float32 slice at base into new
// registers (masked-off lanes read as 0).
func (s Step) Load(base reg.Register) []reg.VecVirtual {
	rs := s.Regs()
	for j, r := range rs {
		s.move(s.At(base, j), r)
	}
	return rs
}

// move emits the step's move of src to dst, one of them memory: one
// element in a scalar tail, the mask's lanes in a masked tail (a load reads
// the others as 0, a store leaves them alone), else a whole vector.
func (s Step) move(src, dst operand.Op) {
	_, store := dst.(operand.Mem)
	switch {
	case s.Scalar:
		build.VMOVSS(src, dst)
	case s.Mask == nil:
		build.VMOVUPS(src, dst)
	case s.W != ZMM:
		build.VMASKMOVPS(src, s.Mask, dst)
	case store:
		build.VMOVUPS(src, s.Mask, dst)
	default:
		build.VMOVUPS_Z(src, s.Mask, dst)
	}
}

// Operand returns vector j of the slice at base as an operand: memory where
// the whole vector may be read, else a register loaded under the mask.
func (s Step) Operand(base reg.Register, j int) operand.Op {
	if s.Mask == nil {
		return s.At(base, j)
	}
	r := s.Reg()
	s.move(s.At(base, j), r)
	return r
}

// Store stores rs, one register per vector, to the step's elements of the
// float32 slice at base (only the mask's lanes in a masked tail).
func (s Step) Store(rs []reg.VecVirtual, base reg.Register) {
	for j, r := range rs {
		s.move(r, s.At(base, j))
	}
}

// ZeroMasked clears the lanes of r that a masked tail's mask leaves out
// (elsewhere it emits nothing), for sums over the step's lanes.
func (s Step) ZeroMasked(r reg.VecVirtual) {
	switch {
	case s.Mask == nil:
	case s.W == ZMM:
		build.VMOVUPS_Z(r, s.Mask, r)
	default:
		build.VANDPS(s.Mask, r, r)
	}
}

// TailMaskAVX2 loads into mask the VMASKMOVPS mask that selects the first rem
// lanes of a YMM register, for 0 ≤ rem ≤ 8 in the general-purpose register
// rem, which it leaves unchanged.
func TailMaskAVX2(mask reg.VecVirtual, rem reg.GPVirtual) {
	var words [16]uint32 // eight −1 then eight 0: the mask starts 4·rem bytes before the zeros
	for k := range 8 {
		words[k] = 0xffffffff
	}
	base, neg := build.GP64(), build.GP64()
	build.LEAQ(Table32("tail_mask8", words[:]...).Offset(32), base)
	build.MOVQ(rem, neg)
	build.NEGQ(neg)
	build.VMOVDQU(operand.Mem{Base: base, Index: neg, Scale: 4}, mask)
}

// TailMaskAVX512 sets the opmask k to select the first rem lanes, for
// 0 ≤ rem ≤ 16 in the general-purpose register rem.
func TailMaskAVX512(k reg.OpmaskVirtual, rem reg.GPVirtual) {
	var words [17]uint16 // (1<<i) − 1
	for i := range words {
		words[i] = 1<<i - 1
	}
	base := build.GP64()
	build.LEAQ(Table16("tail_mask16", words[:]...), base)
	build.KMOVW(operand.Mem{Base: base, Index: rem, Scale: 2}, k)
}
