package kernels

import (
	"os"
	"testing"

	"github.com/klauspost/cpuid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fastvae/fastvae/internal/impltest"
)

// impls runs a subtest per implementation this CPU can run.
var impls = impltest.Set{Available: Available, Impl: Impl, Use: Use,
	Threads: Threads, SetThreads: SetThreads}

func TestAvailableEndsWithGeneric(t *testing.T) {
	names := Available()
	require.NotEmpty(t, names)
	assert.Equal(t, "generic", names[len(names)-1])
}

// TestDispatch checks the implementation chosen at start-up. The parity
// matrix sets FASTVAE_EXPECT_KERNELS to the choice each emulated CPU must
// lead to; natively the expectation follows from cpuid.
func TestDispatch(t *testing.T) {
	want := os.Getenv("FASTVAE_EXPECT_KERNELS")
	if want == "" {
		want = expectedImpl()
	}
	assert.Equal(t, want, Impl(), "FASTVAE_KERNELS=%q, EnvError: %v", os.Getenv("FASTVAE_KERNELS"), EnvError())
}

// expectedImpl derives the start-up choice independently of dispatch.go.
func expectedImpl() string {
	if env := os.Getenv("FASTVAE_KERNELS"); env == "generic" {
		return "generic"
	}
	if len(archImplementations()) == 0 { // purego, noasm or not amd64
		return "generic"
	}
	if !cpuid.CPU.Supports(cpuid.AVX, cpuid.AVX2, cpuid.FMA3) {
		return "generic"
	}
	if env := os.Getenv("FASTVAE_KERNELS"); env == "avx2" || !cpuid.CPU.Supports(cpuid.AVX512F) {
		return "avx2"
	}
	return "avx512"
}

func TestUse(t *testing.T) {
	prev := Impl()
	defer func() { require.NoError(t, Use(prev)) }()

	require.NoError(t, Use("generic"))
	assert.Equal(t, "generic", Impl())

	err := Use("sse9")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown implementation "sse9"`)
	assert.Equal(t, "generic", Impl(), "a failed Use changes nothing")
}

func TestUseFromEnv(t *testing.T) {
	prev := Impl()
	defer func() { require.NoError(t, Use(prev)) }()

	assert.NoError(t, useFromEnv(""))
	assert.Equal(t, Available()[0], Impl())

	assert.NoError(t, useFromEnv("generic"))
	assert.Equal(t, "generic", Impl())

	err := useFromEnv("bogus")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "FASTVAE_KERNELS=bogus ignored, using "+Available()[0])
	assert.Equal(t, Available()[0], Impl())
}

func TestMissingFeaturesNamed(t *testing.T) {
	for _, im := range implementations {
		if len(im.missing) == 0 {
			continue
		}
		err := Use(im.name)
		require.Error(t, err)
		assert.Contains(t, err.Error(), im.missing[0])
	}
}
