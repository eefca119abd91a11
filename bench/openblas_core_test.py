"""Tests of openblas_core.choose()'s decisions, on made-up trials (no numpy
or OpenBLAS needed): python3 -m unittest openblas_core_test, from bench/."""

import types
import unittest
from unittest import mock

import openblas_core

try:
    import numpy
except ImportError:
    numpy = None


def fake_trials(results):
    """A run_trial that answers from results: {core or None: (core it took,
    GFLOP/s, check)}; a core missing from results fails as a crash would."""
    def run_trial(build, core, threads=1, check=True, python=None):
        if core not in results:
            raise RuntimeError(f"core {core}: exit status -4")
        took, gflops, err = results[core]
        return {"loaded": {"path": "/lib/libopenblas.so", "version": "0.3.21", "build": build, "core": took,
                           "threads": threads},
                "check": err, "gflops": {"a": gflops, "b": gflops}}
    return run_trial


class ChooseTest(unittest.TestCase):
    def choose(self, isa, results, bf16=True, always=False):
        cpu = {"name": "test CPU", "isa": isa, "bf16": bf16}
        logs = []
        with mock.patch.object(openblas_core, "cpu", return_value=cpu), \
                mock.patch.object(openblas_core, "run_trial", fake_trials(results)), \
                mock.patch.dict(openblas_core.BUILDS, {"pthreads": "/"}):
            return openblas_core.choose("pthreads", always=always, log=logs.append), logs

    def test_current_core_is_kept_untried(self):
        c, _ = self.choose("avx512", {None: ("Cooperlake", 100, 0.01)})
        self.assertEqual(c["core"], "Cooperlake")
        self.assertIsNone(c["coretype"], "OPENBLAS_CORETYPE stays unset")
        self.assertEqual(list(c["tried"]), ["Cooperlake"])

    def test_old_core_gives_way_to_the_fastest_of_the_isa(self):
        c, _ = self.choose("avx512", {None: ("Prescott", 20, 0.01), "SkylakeX": ("SkylakeX", 150, 0.01),
                                      "Cooperlake": ("Cooperlake", 180, 0.01), "Haswell": ("Haswell", 90, 0.01)})
        self.assertEqual((c["default"], c["core"], c["coretype"]), ("Prescott", "Cooperlake", "Cooperlake"))
        self.assertIn("OpenBLAS alone takes Prescott", openblas_core.describe(c))

    def test_a_tie_keeps_the_first_candidate(self):
        c, _ = self.choose("avx512", {None: ("Prescott", 20, 0.01), "SkylakeX": ("SkylakeX", 150, 0.01),
                                      "Cooperlake": ("Cooperlake", 152, 0.01), "Haswell": ("Haswell", 90, 0.01)})
        self.assertEqual(c["core"], "SkylakeX", "2% is within the margin: no flip with the noise")

    def test_cooperlake_only_with_bf16(self):
        c, _ = self.choose("avx512", {None: ("Prescott", 20, 0.01), "SkylakeX": ("SkylakeX", 150, 0.01),
                                      "Haswell": ("Haswell", 90, 0.01)}, bf16=False)
        self.assertEqual(sorted(c["tried"]), ["Haswell", "Prescott", "SkylakeX"])

    def test_avx2_cpu(self):
        c, _ = self.choose("avx2", {None: ("Nehalem", 20, 0.01), "Haswell": ("Haswell", 90, 0.01),
                                    "Zen": ("Zen", 99, 0.01)})
        self.assertEqual(c["core"], "Zen")

    def test_wrong_crashing_or_substituted_cores_are_left_out(self):
        c, logs = self.choose("avx512", {None: ("Sandybridge", 60, 0.01), "SkylakeX": ("SkylakeX", 300, 5.0),
                                         "Cooperlake": ("SkylakeX", 250, 0.01)})
        self.assertEqual(c["core"], "Sandybridge", "no core of the ISA passed: OpenBLAS's own stays")
        self.assertIsNone(c["coretype"])
        self.assertEqual(len(logs), 3, logs)

    def test_a_wrong_own_core_is_an_error(self):
        with self.assertRaisesRegex(RuntimeError, "error bound"):
            self.choose("avx512", {None: ("Cooperlake", 100, 1.5)})

    def test_always_tries_and_prefers_the_own_core_on_a_tie(self):
        c, _ = self.choose("avx512", {None: ("Cooperlake", 100, 0.01), "SkylakeX": ("SkylakeX", 102, 0.01),
                                      "Cooperlake": ("Cooperlake", 100, 0.01), "Haswell": ("Haswell", 60, 0.01)},
                           always=True)
        self.assertEqual((c["core"], c["coretype"]), ("Cooperlake", None))
        self.assertEqual(sorted(c["tried"]), ["Cooperlake", "Haswell", "SkylakeX"])


@unittest.skipUnless(numpy, "no numpy")
class CheckProductTest(unittest.TestCase):
    def check(self, matmul):
        fake = types.SimpleNamespace(**{k: getattr(numpy, k) for k in dir(numpy) if not k.startswith("__")})
        fake.matmul = matmul
        return openblas_core.check_product(fake, numpy.random.default_rng(1), 40, 30, 200, "NT")

    def test_float32_is_within_the_bound(self):
        self.assertLess(self.check(numpy.matmul), 1)

    def test_a_wrong_product_is_not(self):
        def off(a, b):
            c = numpy.matmul(a, b)
            c[3, 7] *= 1 + 1e-3  # far beyond float32 rounding (6e-8)
            return c
        self.assertGreater(self.check(off), 1)

    def test_a_product_missing_a_step_of_k_is_not(self):
        # Dropping the last step of k, as a broken edge kernel might.
        self.assertGreater(self.check(lambda a, b: numpy.matmul(a[:, :-1], b[:-1, :])), 1)


class EnvTest(unittest.TestCase):
    def test_env(self):
        base = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512", "LD_LIBRARY_PATH": "/x", "HOME": "/h"}
        e = openblas_core.env("openmp", 2, None, base)
        self.assertNotIn("OPENBLAS_CORETYPE", e, "the caller's setting is not passed on")
        self.assertNotIn("OPENBLAS_L2_SIZE", e)
        self.assertEqual(e["LD_LIBRARY_PATH"], openblas_core.BUILDS["openmp"] + ":/x")
        self.assertEqual((e["OPENBLAS_NUM_THREADS"], e["OMP_NUM_THREADS"], e["HOME"]), ("2", "2", "/h"))
        self.assertEqual(openblas_core.env("pthreads", 1, "SkylakeX", {})["OPENBLAS_CORETYPE"], "SkylakeX")


if __name__ == "__main__":
    unittest.main()
