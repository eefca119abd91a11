// Package vae is fastvae's variational autoencoder: the model of the
// PyTorch VAE example (pytorch/examples, vae/main.py) and its deeper
// variants, trained with Adam on the kernels package, without allocating in
// the training step, and saved as safetensors checkpoints that PyTorch can
// read.
//
// # Model
//
// The encoder maps x to mu and logvar of a diagonal Gaussian q(z|x); one
// z = mu + ε·exp(logvar/2), ε ~ N(0, I), is drawn per input; the decoder
// maps z to Bernoulli logits or Gaussian means. The loss per input is
// reconstruction + Beta·KL with KL = −½·Σ(1 + logvar − mu² − exp(logvar)),
// all in nats; batches sum it, as the example does with reduction='sum'.
// The Bernoulli loss is computed from the logits (binary cross-entropy with
// logits); probabilities are only computed by Decode, Sample and
// Reconstruct.
//
// # Tensor names
//
// Parameters carry the names of a PyTorch state_dict, weights [out, in] and
// biases [out]. Layers are numbered in forward order: with k hidden layers
// the encoder's are fc1 … fck, the mu and logvar heads fc(k+1)1 and
// fc(k+1)2, and the decoder's fc(k+2) … fc(2k+2). The default model
// (Hidden [400]) thus has exactly the example's fc1 [400, 784], fc21 and
// fc22 [20, 400], fc3 [400, 20] and fc4 [784, 400]; Hidden [512, 256] has
// fc1, fc2, fc31, fc32, fc4, fc5, fc6. The two heads are one 2·Latent-row
// matrix internally (one GEMM) but are saved and loaded as two layers.
//
// # Checkpoints
//
// Save writes one safetensors file: the parameters under the names above,
// the Adam moments as optim.NAME.exp_avg and optim.NAME.exp_avg_sq, the
// Adam step count as the I64 scalar optim.step, and string metadata with
// the configuration (fastvae.config, JSON), the Adam hyperparameters
// (fastvae.optim), the positions of the random streams (fastvae.rng.*) and
// whatever the caller adds (epoch, step, data position…). Load restores all
// of it, so training resumes bit for bit; LoadWeights reads the parameters
// alone, e.g. from a PyTorch state_dict.
//
// # Randomness
//
// A model draws from independent streams derived from its seed (see
// nn.Stream): initialisation, training ε, and evaluation ε and samples. The
// same seed and kernel implementation give bit-identical training on every
// machine.
package vae
