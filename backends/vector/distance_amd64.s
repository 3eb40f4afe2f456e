//go:build amd64 && !purego

#include "textflag.h"

// Both kernels walk the two vectors 32 floats at a time into four
// independent 8-lane accumulators (so consecutive fused multiply-adds do not
// wait on each other), then 8 at a time, then one at a time, and finally add
// the accumulators' lanes together. Loads are unaligned: a vector starts
// wherever its slot in the flat array does.

// func dotAVX2(a, b []float32) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	MOVQ b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dot32:
	CMPQ CX, $32
	JL   dot8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  dot32

dot8:
	CMPQ CX, $8
	JL   dotsum
	VMOVUPS (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  dot8

dotsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0

dot1:
	TESTQ CX, CX
	JE    dotdone
	VMOVSS (SI), X4
	VFMADD231SS (DI), X4, X0
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  dot1

dotdone:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func l2sqAVX2(a, b []float32) float32
TEXT ·l2sqAVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	MOVQ b_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

l2_32:
	CMPQ CX, $32
	JL   l2_8
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VSUBPS (DI), Y4, Y4
	VSUBPS 32(DI), Y5, Y5
	VSUBPS 64(DI), Y6, Y6
	VSUBPS 96(DI), Y7, Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  l2_32

l2_8:
	CMPQ CX, $8
	JL   l2sum
	VMOVUPS (SI), Y4
	VSUBPS (DI), Y4, Y4
	VFMADD231PS Y4, Y4, Y0
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  l2_8

l2sum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0

l2_1:
	TESTQ CX, CX
	JE    l2done
	VMOVSS (SI), X4
	VSUBSS (DI), X4, X4
	VFMADD231SS X4, X4, X0
	ADDQ $4, SI
	ADDQ $4, DI
	DECQ CX
	JMP  l2_1

l2done:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func prefetchAsm(p *byte, n int)
TEXT ·prefetchAsm(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	LEAQ (SI)(CX*1), CX

pf:
	PREFETCHT0 (SI)
	ADDQ $64, SI
	CMPQ SI, CX
	JB   pf
	RET

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv() (eax, edx uint32)
TEXT ·xgetbv(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET

// The int8 kernels compare a float query with a vector's int8 codes: they
// widen 8 codes at a time to 32-bit integers (VPMOVSXBD) and convert those
// to floats, then go on as the float kernels do, 32 at a time into four
// accumulators, then 8, then one.

// func dotI8AVX2(a []float32, c []int8) float32
TEXT ·dotI8AVX2(SB), NOSPLIT, $0-52
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	MOVQ c_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

i8dot32:
	CMPQ CX, $32
	JL   i8dot8
	VPMOVSXBD (DI), Y4
	VPMOVSXBD 8(DI), Y5
	VPMOVSXBD 16(DI), Y6
	VPMOVSXBD 24(DI), Y7
	VCVTDQ2PS Y4, Y4
	VCVTDQ2PS Y5, Y5
	VCVTDQ2PS Y6, Y6
	VCVTDQ2PS Y7, Y7
	VFMADD231PS (SI), Y4, Y0
	VFMADD231PS 32(SI), Y5, Y1
	VFMADD231PS 64(SI), Y6, Y2
	VFMADD231PS 96(SI), Y7, Y3
	ADDQ $128, SI
	ADDQ $32, DI
	SUBQ $32, CX
	JMP  i8dot32

i8dot8:
	CMPQ CX, $8
	JL   i8dotsum
	VPMOVSXBD (DI), Y4
	VCVTDQ2PS Y4, Y4
	VFMADD231PS (SI), Y4, Y0
	ADDQ $32, SI
	ADDQ $8, DI
	SUBQ $8, CX
	JMP  i8dot8

i8dotsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0

i8dot1:
	TESTQ CX, CX
	JE    i8dotdone
	MOVBLSX (DI), AX
	VCVTSI2SSL AX, X4, X4
	VFMADD231SS (SI), X4, X0
	ADDQ $4, SI
	INCQ DI
	DECQ CX
	JMP  i8dot1

i8dotdone:
	VZEROUPPER
	MOVSS X0, ret+48(FP)
	RET

// func l2I8AVX2(a []float32, c []int8, s float32) float32
TEXT ·l2I8AVX2(SB), NOSPLIT, $0-60
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	MOVQ c_base+24(FP), DI
	VBROADCASTSS s+48(FP), Y8
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

i8l2_32:
	CMPQ CX, $32
	JL   i8l2_8
	VPMOVSXBD (DI), Y4
	VPMOVSXBD 8(DI), Y5
	VPMOVSXBD 16(DI), Y6
	VPMOVSXBD 24(DI), Y7
	VCVTDQ2PS Y4, Y4
	VCVTDQ2PS Y5, Y5
	VCVTDQ2PS Y6, Y6
	VCVTDQ2PS Y7, Y7
	VMOVUPS (SI), Y9
	VMOVUPS 32(SI), Y10
	VMOVUPS 64(SI), Y11
	VMOVUPS 96(SI), Y12
	VFNMADD231PS Y4, Y8, Y9
	VFNMADD231PS Y5, Y8, Y10
	VFNMADD231PS Y6, Y8, Y11
	VFNMADD231PS Y7, Y8, Y12
	VFMADD231PS Y9, Y9, Y0
	VFMADD231PS Y10, Y10, Y1
	VFMADD231PS Y11, Y11, Y2
	VFMADD231PS Y12, Y12, Y3
	ADDQ $128, SI
	ADDQ $32, DI
	SUBQ $32, CX
	JMP  i8l2_32

i8l2_8:
	CMPQ CX, $8
	JL   i8l2sum
	VPMOVSXBD (DI), Y4
	VCVTDQ2PS Y4, Y4
	VMOVUPS (SI), Y9
	VFNMADD231PS Y4, Y8, Y9
	VFMADD231PS Y9, Y9, Y0
	ADDQ $32, SI
	ADDQ $8, DI
	SUBQ $8, CX
	JMP  i8l2_8

i8l2sum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0

i8l2_1:
	TESTQ CX, CX
	JE    i8l2done
	MOVBLSX (DI), AX
	VCVTSI2SSL AX, X4, X4
	VMOVSS (SI), X9
	VFNMADD231SS X4, X8, X9
	VFMADD231SS X9, X9, X0
	ADDQ $4, SI
	INCQ DI
	DECQ CX
	JMP  i8l2_1

i8l2done:
	VZEROUPPER
	MOVSS X0, ret+56(FP)
	RET
