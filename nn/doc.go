// Package nn holds the building blocks of fastvae's models: fully connected
// layers stored as PyTorch stores them (Linear, Param), the Adam optimizer,
// and the seeded random streams (NewSource, InitUniform, Normal) that make
// training reproducible. Activations are the kernels package's ReLU and
// Sigmoid, called directly.
//
// Everything works on caller-owned float32 slices holding row-major
// matrices, with the batch as the leading dimension, and calls the kernels
// package for the arithmetic. Nothing here allocates after construction, so a
// training step built from these parts can run allocation-free.
package nn
