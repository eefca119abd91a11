// Package nn holds the building blocks of fastvae's models: fully connected
// layers stored as PyTorch stores them, activations, the Adam optimizer and
// the seeded random streams that make training reproducible.
//
// Everything works on caller-owned float32 slices holding row-major
// matrices, with the batch as the leading dimension, and calls the kernels
// package for the arithmetic. Nothing here allocates after construction, so a
// training step built from these parts can run allocation-free.
package nn
