"""The compiled training steps of Part II (slotless.attention.kernels) against the readable torch path.

``run_sweep`` trains with the compiled steps unless ``training._COMPILED_STEP`` is False (or an
``on_batch`` hook is given); the readable path (mhn_store, mhn_update, transformer_grads) is the slow
reference. Float64 trajectories must agree to 1e-12 over a few hundred batches; float32 within rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slotless.attention import kernels, training

CASES = [(model, preset, {}) for model in training.MODELS for preset in training.PRESETS] + [
    ("mhn-exact-wk", "default", dict(mask_unrecruited=True, track_cosines=True, cosine_every=4)),
    ("mhn-wk", "default", dict(input_projections=False, track_cosines=True, cosine_every=3)),
    ("mhn-wk", "default", dict(input_projections=False, mask_unrecruited=True, wk_rule="hebbian")),
    ("mhn-fixed-wk", "default", dict(wv_mode="via_mhn_output", wk_rule="exact_reinstatement")),
    ("qk-mhn", "default", dict(letters=4, context=3, eval_context=4, heldout_split="classes", heldout_fraction=0.25, eval_size=128)),
    ("transformer", "default", dict(letters=3, context=2, eval_context=3, heldout_split="pairs", eval_size=128)),
]
IDS = [f"{m}-{p}" + ("-" + "-".join(f"{k}={v}" for k, v in sorted(e.items())) if e else "") for m, p, e in CASES]


def sweep(config, batches, compiled, seeds=2):
    old = training._COMPILED_STEP
    training._COMPILED_STEP = compiled
    try:
        return training.result_arrays(training.run_sweep(config, seeds, batches, 64, 3))
    finally:
        training._COMPILED_STEP = old


@pytest.mark.parametrize(("model", "preset", "extra"), CASES, ids=IDS)
def test_compiled_float64_trajectories_equal_the_readable_path_to_1e_12(model, preset, extra):
    config = training.resolve_config(model, preset, dtype="float64", **extra)
    fast, slow = sweep(config, 200, True), sweep(config, 200, False)
    assert fast.keys() == slow.keys()
    for key in fast:
        if fast[key].dtype.kind == "U":  # the held-out sequences, as strings
            np.testing.assert_array_equal(fast[key], slow[key], err_msg=key)
        elif key != "seconds":
            np.testing.assert_allclose(fast[key], slow[key], rtol=0, atol=1e-12, equal_nan=True, err_msg=key)


# every model and preset, and without input projections (where the free units' terms are summed in another order)
FLOAT32_CASES = [*range(12), IDS.index("mhn-wk-default-cosine_every=3-input_projections=False-track_cosines=True")]


@pytest.mark.parametrize(("model", "preset", "extra"), [CASES[i] for i in FLOAT32_CASES],
                         ids=[IDS[i] for i in FLOAT32_CASES])
def test_compiled_float32_trajectories_equal_the_readable_path_within_rounding(model, preset, extra):
    config = training.resolve_config(model, preset, dtype="float32", **extra)
    fast, slow = sweep(config, 100, True), sweep(config, 100, False)
    np.testing.assert_array_equal(fast["accuracy"], slow["accuracy"])
    for key in ("loss", "W_Q", "W_K", "W_V"):
        np.testing.assert_allclose(fast[key], slow[key], rtol=1e-4, atol=1e-5, err_msg=key)


def test_the_compiled_twister_draws_what_torch_rand_draws():
    # The compiled step draws the fast-weight initialisations itself; they must be torch.rand's numbers,
    # and torch's generators must continue from where the compiled draws left them.
    generators = [torch.Generator().manual_seed(17 * s + 1) for s in range(3)]
    twins = [torch.Generator().manual_seed(17 * s + 1) for s in range(3)]
    states, cursor = kernels.mt_states(generators)
    for shape in [(5,), (64, 144), (623,), (1,), (624,), (2000,), (7, 13)]:
        out = np.empty((3,) + shape, dtype=np.float32)
        kernels.mt_uniform_fill(states, cursor, out)
        expected = np.stack([torch.rand(shape, generator=g).numpy() for g in twins])
        np.testing.assert_array_equal(out, expected)
    kernels.set_mt_states(generators, states, cursor)
    for g, twin in zip(generators, twins):
        np.testing.assert_array_equal(torch.rand(1000, generator=g).numpy(), torch.rand(1000, generator=twin).numpy())


@pytest.mark.parametrize(("letters", "context"), [(1, 1), (2, 2), (3, 2), (4, 4), (6, 3), (8, 5)])
def test_the_compiled_chunk_tokens_are_the_tokens_of_draw_sequences(letters, context):
    # The compiled path draws its training sequences in chunks of batches straight into the step's token
    # layout; they must be draw_sequences' sequences from the same generator state, batch by batch.
    from slotless.attention import task
    from slotless.rng import trial_generator

    n_batches, batch_size, seeds = 7, 5, 3
    rngs = [trial_generator(11, s, "tokens") for s in range(seeds)]
    twins = [trial_generator(11, s, "tokens") for s in range(seeds)]
    tok, qtok, target = training._chunk_tokens(rngs, letters, context, n_batches, batch_size)
    seqs = task.stack_sequences([task.draw_sequences(letters, context, n_batches * batch_size, r) for r in twins])
    expected = training._token_indices(seqs, letters)
    for got, want in zip((tok, qtok, target), expected):
        want = want.reshape(seeds, n_batches, batch_size, *want.shape[2:]).swapaxes(0, 1)
        np.testing.assert_array_equal(got, want)
        assert all(got[j].flags.c_contiguous for j in range(n_batches))
    for r, twin in zip(rngs, twins):  # the generators are left where draw_sequences leaves them
        assert r.random() == twin.random()
