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
// Reconstruct. SetBeta changes the KL weight from one step to the next, as
// a KL warm-up (Sønderby et al., 2016) ramps it from 0 to Config.Beta.
//
// # Conditional models
//
// With Config.Classes = C > 0 the model is a conditional VAE (Sohn et
// al., 2015): the one-hot label y is concatenated to x at the encoder's
// input, q(z|x, y), and to z at the decoder's, p(x|z, y). Training and
// inference go through the *Labeled methods (TrainStepLabeled,
// EvalLabeled, EncodeLabeled, DecodeLabeled, SampleLabeled,
// ReconstructLabeled), which take one label in [0, C) per row; the
// unlabeled ones serve unconditional models only.
//
// # Likelihood
//
// LogLikelihood estimates log p(x) (log p(x|y) for a conditional model)
// per example by importance sampling with K samples of q(z|x) (Burda et
// al., 2016), with the ELBO from the same samples, deterministically for a
// seed and in bounded memory for any K.
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
// matrix internally (one GEMM) but are saved and loaded as two layers. A
// conditional model has the same names; its first encoder layer takes
// Input+Classes inputs (the image's, then the label's one-hot columns) and
// its first decoder layer Latent+Classes (z's, then the label's): fc1
// [400, 784+C] and fc3 [400, 20+C] for the default widths.
//
// # Checkpoints
//
// Save writes one safetensors file: the parameters under the names above,
// the Adam moments as optim.NAME.exp_avg and optim.NAME.exp_avg_sq, the
// Adam step count as the I64 scalar optim.step, and string metadata with
// the configuration (fastvae.config, JSON, with the number of classes of a
// conditional model), the Adam hyperparameters (fastvae.optim), the
// positions of the random streams (fastvae.rng.*), the KL weight in effect
// when SetBeta made it differ from Config.Beta (fastvae.beta), the class
// names when SetClassNames gave them (fastvae.class_names, a JSON array)
// and whatever the caller adds (epoch, step, data position…). Load
// restores all of it, so training resumes bit for bit; LoadWeights reads
// the parameters alone, e.g. from a PyTorch state_dict.
//
// # Randomness
//
// A model draws from independent streams derived from its seed (see
// nn.Stream): initialisation, training ε, and evaluation ε and samples.
// LogLikelihood draws from nn.StreamIW of a seed of its own, a generator
// per example. The same seed and kernel implementation give bit-identical
// training on every machine.
package vae
