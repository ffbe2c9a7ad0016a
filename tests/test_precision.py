"""`--precision`: mixed policies train the child in 16 bits with float32 weights, logits, loss and controller."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import precision
from enas_tf2.bench import config as bench_config
from enas_tf2.bench import images, report
from enas_tf2.configs import image as image_config
from enas_tf2.configs import language_model as lm_config
from enas_tf2.errors import FlagError
from enas_tf2.layers.batch_norm import BatchNorm
from enas_tf2.tasks.image_classification import ImageClassificationTask
from fake_cifar import write_fake_cifar
from fake_ptb import write_fake_ptb
from runs import run_main, run_module

TINY_MACRO_FINAL = {"num_layers": 3, "out_filters": 4, "batch_size": 4, "steps": 1}
TINY_MICRO_SEARCH = {"num_layers": 1, "out_filters": 4, "batch_size": 4, "num_blocks": 2, "steps": 1}


def _task(space: str, preset: str, shape: dict, policy: str, seed: int = 3, keep_prob: float | None = None):
    """The script's task at a tiny shape (as the bench builds it); `keep_prob=1` for comparable steps."""
    bench = dataclasses.replace(bench_config.config_from_flags(space, preset, {**shape, "seed": seed}),
                                precision=policy)
    keras.utils.set_random_seed(seed)
    if keep_prob is None:
        return images.image_task(bench)
    resolved = image_config.resolve({**bench_config.script_values(bench), "child_keep_prob": keep_prob})
    task = ImageClassificationTask(resolved)
    task.num_train_batches = 10
    task.child_config = dataclasses.replace(task.child_config, total_steps=10)
    return task


def _batch(seed: int = 1):
    return (tf.random.stateless_normal([4, 32, 32, 3], seed=[seed, 0]),
            tf.constant([0, 1, 2, 3], tf.int32))


def test_policy_scope_sets_the_policy_for_layers_built_inside_only():
    before = keras.config.dtype_policy().name
    with precision.policy_scope("mixed_bfloat16"):
        inside = keras.layers.Dense(2)
    outside = keras.layers.Dense(2)
    assert inside.compute_dtype == "bfloat16" and inside.variable_dtype == "float32"
    assert outside.compute_dtype == "float32" and keras.config.dtype_policy().name == before
    with pytest.raises(ValueError, match="expected one of float32, mixed_bfloat16, mixed_float16"):
        with precision.policy_scope("bfloat16"):
            pass


def test_fused_batch_norm_takes_16_bit_inputs_and_keeps_float32_statistics():
    x = tf.random.stateless_normal([8, 4, 4, 3], seed=[1, 2]) * 3.0 + 1.0
    reference, mixed = BatchNorm(), BatchNorm(dtype="mixed_bfloat16")
    expected = reference(x, training=True)
    got = mixed(tf.cast(x, tf.bfloat16), training=True)
    assert got.dtype == tf.bfloat16 and mixed.moving_mean.dtype == tf.float32
    np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), expected.numpy(), atol=0.05)
    np.testing.assert_allclose(mixed.moving_mean.numpy(), reference.moving_mean.numpy(), atol=0.01)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_macro_final_network_trains_with_float32_weights_and_the_same_parameters(policy):
    float32_task = _task("macro", "final", TINY_MACRO_FINAL, "float32", keep_prob=1.0)
    float32_model = float32_task.build_child()
    mixed_task = _task("macro", "final", TINY_MACRO_FINAL, policy, keep_prob=1.0)
    mixed_model = mixed_task.build_child()
    assert float32_task.trained_params(float32_model) == mixed_task.trained_params(mixed_model)
    assert {v.dtype for v in mixed_model.variables if "float" in v.dtype} == {"float32"}
    images_, labels = _batch()
    np.testing.assert_allclose(  # same seed, same weights: the same function up to 16-bit rounding
        precision.float32_logits(mixed_model(images_, training=False)).numpy(),
        float32_model(images_, training=False).numpy(), atol=0.05, rtol=0.05)
    assert mixed_model(images_, training=False).dtype == tf.as_dtype(keras.mixed_precision.Policy(policy).compute_dtype)

    float32_trainer = float32_task.build_child_trainer(float32_model, None, tf.distribute.get_strategy())
    mixed_trainer = mixed_task.build_child_trainer(mixed_model, None, tf.distribute.get_strategy())
    assert isinstance(mixed_trainer.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    before = [v.numpy().copy() for v in mixed_trainer.variables]
    float32_before = [v.numpy().copy() for v in float32_trainer.variables]
    float32_logs = float32_trainer.train_step((images_, labels))
    mixed_logs = mixed_trainer.train_step((images_, labels))
    # Same initial weights (same seed): the loss and the *unscaled* gradient norm match float32's
    # to 16-bit rounding, so loss scaling is undone before the norm is reported.
    np.testing.assert_allclose(float(mixed_logs["loss"]), float(float32_logs["loss"]), rtol=0.05)
    np.testing.assert_allclose(float(mixed_logs["grad_norm"]), float(float32_logs["grad_norm"]), rtol=0.1)
    assert mixed_logs["loss"].dtype == tf.float32
    moved = [not np.array_equal(b, v.numpy()) for b, v in zip(before, mixed_trainer.variables)]
    float32_moved = [not np.array_equal(b, v.numpy()) for b, v in zip(float32_before, float32_trainer.variables)]
    assert moved == float32_moved and sum(moved) > len(moved) // 2, "the same weights move as in float32"
    assert int(mixed_trainer.optimizer.iterations) == 1


def test_a_mixed_micro_supernet_trains_a_sampled_arc():
    task = _task("micro", "search", TINY_MICRO_SEARCH, "mixed_bfloat16")
    supernet = task.build_child()
    trainer = task.build_child_trainer(supernet, None, tf.distribute.get_strategy())
    arc = tf.constant([0, 1, 1, 2, 1, 0, 2, 4] * 2, tf.int32)
    logs = trainer.train_step(_batch(), arc)
    assert np.isfinite(float(logs["loss"])) and logs["loss"].dtype == tf.float32
    assert 0.0 <= float(trainer.score_arc(*_batch(2), arc)) <= 1.0


def test_ptb_takes_every_precision():
    from enas_tf2.configs.presets import PRESETS  # pylint: disable=import-outside-toplevel

    flags = {**PRESETS["ptb_search"].flags, "preset": "ptb_search", "output_dir": "x"}
    for policy in precision.PRECISIONS:
        assert lm_config.resolve({**flags, "precision": policy}).run.precision == policy


@pytest.mark.parametrize("ptb_impl,policy", [("enas_lm", "mixed_float16"), ("original", "mixed_float16"),
                                             ("enas_lm", "mixed_bfloat16")])
def test_a_mixed_ptb_supernet_step_matches_float32_with_the_loss_scale_undone(ptb_impl, policy):
    from enas_tf2.spaces.rnn import PtbSupernet  # pylint: disable=import-outside-toplevel
    from enas_tf2.tasks.lm_trainer import LanguageModelTrainConfig, LanguageModelTrainer  # pylint: disable=import-outside-toplevel

    arc = tf.constant([0, 1, 1, 2, 1, 3] if ptb_impl == "enas_lm" else [1, 0, 2, 1, 3, 0, 1], tf.int32)
    tokens = tf.constant(np.random.default_rng(0).integers(0, 17, size=(3, 6)), tf.int32)
    steps = {}
    for name in ("float32", policy):
        keras.utils.set_random_seed(4)
        with precision.policy_scope(name):
            model = PtbSupernet(17, 8, 4, ptb_impl=ptb_impl, drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0,
                                drop_o=0.0, drop_w=0.0)
            model.build()
        config = LanguageModelTrainConfig(ptb_impl=ptb_impl, batch_size=3, bptt=5, learning_rate=0.5,
                                          scale_lr_by_length=ptb_impl == "enas_lm", grad_bound=0.25)
        trainer = LanguageModelTrainer(model, config, sample_arc=lambda: arc, arc_format=ptb_impl, precision=name)
        before = [v.numpy().copy() for v in trainer.variables]
        logs = trainer.train_step(tokens[:, :-1], tokens[:, 1:])
        moved = [not np.array_equal(b, v.numpy()) for b, v in zip(before, trainer.variables)]
        steps[name] = (logs, moved, trainer)
    (reference, reference_moved, _), (mixed, mixed_moved, trainer) = steps["float32"], steps[policy]
    assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    if policy == "mixed_float16":
        assert float(precision.loss_scale(trainer.optimizer)) > 1.0, "the loss is scaled up for float16"
    np.testing.assert_allclose(float(mixed["loss"]), float(reference["loss"]), rtol=0.02)
    np.testing.assert_allclose(float(mixed["grad_norm"]), float(reference["grad_norm"]), rtol=0.05)
    assert mixed["loss"].dtype == tf.float32
    assert mixed_moved == reference_moved and any(mixed_moved), "the same weights move as in float32"
    assert int(trainer.optimizer.iterations) == 1


def test_bench_times_the_float32_twin_and_reports_the_speed_up():
    bench = dataclasses.replace(bench_config.config_from_flags("macro", "final", TINY_MACRO_FINAL),
                                precision="mixed_bfloat16")
    figures = images.bench_images(bench)
    assert figures["float32_final_step_s"] > 0 and figures["final_step_s"] > 0
    assert figures["precision_speedup"] == pytest.approx(figures["float32_final_step_s"] / figures["final_step_s"])
    fields = bench_config.recorded_fields(bench)
    assert fields["precision"] == "mixed_bfloat16"
    from enas_tf2.bench import timing  # pylint: disable=import-outside-toplevel

    results = report.results("macro", "final", fields, {**figures, "bf16_units": "amx_bf16"},
                             timing.References(size=8, start_s=1.0, end_s=1.0))
    assert results["precision"] == "mixed_bfloat16"
    table = report.format_table(results)
    assert "float32 / --precision step" in table and "mixed_bfloat16" in table


def test_bf16_units_read_from_the_cpu_flags(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu avx512f avx512_bf16 amx_tile amx_bf16\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert precision.bf16_units() == "amx_bf16"
    cpuinfo.write_text("flags\t\t: fpu avx2\n")
    assert precision.bf16_units() is None
    assert "no bf16 units" in precision.describe("mixed_bfloat16")
    assert precision.bf16_units_note("mixed_bfloat16").startswith("none: mixed_bfloat16 runs emulated")
    assert precision.bf16_units_note("float32") == "none"


@pytest.mark.slow
def test_a_mixed_final_run_trains_exports_float32_and_records_its_precision(tmp_path):
    data = tmp_path / "cifar" / "cifar-10-batches-py"
    write_fake_cifar(data, images_per_file=8)
    out, export = tmp_path / "final", tmp_path / "export"
    run_main(["--search_for=macro", "--nocontroller_training", "--controller_search_whole_channels",
              "--child_num_branches=6", "--child_num_layers=3", "--child_out_filters=4", "--batch_size=8",
              "--child_fixed_arc=1 0 1 2 0 0", f"--data_path={data.parent}", f"--output_dir={out}",
              f"--export_dir={export}", "--num_epochs=1", "--seed=2", "--precision=mixed_bfloat16"])
    record = json.loads((out / "run.json").read_text())
    assert record["flags"]["precision"] == "mixed_bfloat16"
    assert "Precision: mixed_bfloat16" in (out / "stdout").read_text()
    loaded = tf.saved_model.load(str(export))
    float_outputs = loaded.signatures["classify_float"](images=tf.zeros([2, 32, 32, 3]))
    uint8_outputs = loaded.signatures["serving_default"](images=tf.zeros([2, 32, 32, 3], tf.uint8))
    floating = [v for outputs in (float_outputs, uint8_outputs) for v in outputs.values() if v.dtype.is_floating]
    assert floating and all(value.dtype == tf.float32 for value in floating)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_ptb_search_trains_and_derives(tmp_path, policy):
    data = write_fake_ptb(tmp_path / "ptb", vocab_size=30)
    out = tmp_path / "search"
    run_module("ptb_main", ["--preset=ptb_search", f"--data_path={data}", f"--output_dir={out}", "--batch_size=8",
                            "--child_hidden_size=16", "--num_epochs=1", "--child_rhn_depth=3", "--seed=1",
                            "--controller_train_steps=2", "--controller_num_aggregate=2", "--derive_samples=3",
                            f"--precision={policy}"], 300, True)
    final_arc = (out / "final_arc.txt").read_text()
    assert final_arc.strip(), "the search should derive a cell"
    assert "scripts/ptb_final.sh" in final_arc and f"--precision={policy}" in final_arc, \
        "the training command keeps the search's --precision"


@pytest.mark.slow
def test_a_resume_may_switch_bf16_and_float32_but_not_to_or_from_float16(tmp_path):
    data = tmp_path / "cifar" / "cifar-10-batches-py"
    write_fake_cifar(data, images_per_file=8)
    base = ["--search_for=macro", "--nocontroller_training", "--controller_search_whole_channels",
            "--child_num_branches=6", "--child_num_layers=3", "--child_out_filters=4", "--batch_size=8",
            "--child_fixed_arc=1 0 1 2 0 0", f"--data_path={data.parent}", "--seed=2"]
    f16, bf16 = tmp_path / "f16", tmp_path / "bf16"
    run_main(base + [f"--output_dir={f16}", "--num_epochs=1", "--precision=mixed_float16"])
    refused = run_main(base + [f"--output_dir={f16}", "--num_epochs=2", "--precision=float32"], check=False)
    assert refused.returncode != 0
    # The checkpoint mechanism's own mismatch message (not "damaged"), naming the flag that changed.
    assert "holds a run these flags cannot resume" in refused.stderr
    assert "--precision='float32' (run.json: 'mixed_float16')" in refused.stderr
    assert not (f16 / "checkpoints" / "damaged").exists()
    resumed = run_main(base + [f"--output_dir={f16}", "--num_epochs=2", "--precision=mixed_float16"])
    assert "Resumed from" in resumed.stderr
    run_main(base + [f"--output_dir={bf16}", "--num_epochs=1", "--precision=mixed_bfloat16"])
    switched = run_main(base + [f"--output_dir={bf16}", "--num_epochs=2", "--precision=float32"])
    assert "Resumed from" in switched.stderr


def _fused_batch_norm_dtypes(layer: BatchNorm, x: tf.Tensor) -> set[str]:
    graph = tf.function(lambda t: layer(t, training=True)).get_concrete_function(x).graph
    return {op.get_attr("T").name for op in graph.get_operations() if op.type == "FusedBatchNormV3"}


def test_16_bit_batch_norm_runs_the_float32_kernel_where_onednn_is_slow():
    # On a CPU oneDNN's 16-bit kernel is slow unless the channels are a multiple of 16.
    odd, even = BatchNorm(dtype="mixed_bfloat16"), BatchNorm(dtype="mixed_bfloat16")
    x_odd = tf.cast(tf.random.stateless_normal([2, 4, 4, 36], seed=[1, 3]), tf.bfloat16)
    x_even = tf.cast(tf.random.stateless_normal([2, 4, 4, 32], seed=[1, 4]), tf.bfloat16)
    assert _fused_batch_norm_dtypes(odd, x_odd) == {"float32"}
    assert _fused_batch_norm_dtypes(even, x_even) == {"bfloat16"}
    assert odd(x_odd, training=True).dtype == tf.bfloat16, "the output keeps the input's dtype"
    reference = BatchNorm()
    np.testing.assert_allclose(tf.cast(odd(x_odd, training=True), tf.float32).numpy(),
                               reference(tf.cast(x_odd, tf.float32), training=True).numpy(), atol=0.05)


def test_convolutions_only_scope_gives_16_bits_to_dense_convolutions_alone():
    assert precision.convolution_dtype() is None
    with precision.policy_scope("mixed_bfloat16", convolutions_only=True):
        assert precision.convolution_dtype() == "mixed_bfloat16"
        dense = keras.layers.Dense(2)
    assert dense.compute_dtype == "float32" and precision.convolution_dtype() is None
    with pytest.raises(RuntimeError):
        with precision.policy_scope("mixed_bfloat16", convolutions_only=True):
            raise RuntimeError("built wrong")
    assert precision.convolution_dtype() is None and keras.config.dtype_policy().name == "float32"


def _compute_dtypes(model: keras.Model, layer_type: type) -> set[str]:
    return {layer.compute_dtype for layer in model._flatten_layers() if type(layer) is layer_type}


@pytest.mark.parametrize("space,preset,shape", [("micro", "search", TINY_MICRO_SEARCH),
                                                ("macro", "final", TINY_MACRO_FINAL)])
def test_which_layers_compute_in_16_bits_micro_and_macro(space, preset, shape):
    model = _task(space, preset, shape, "mixed_bfloat16").build_child()
    assert _compute_dtypes(model, keras.layers.Conv2D) == {"bfloat16"}
    batch_norms = _compute_dtypes(model, BatchNorm)
    # micro: float32 layers around the dense convolutions; macro: a 16-bit network (but for the
    # float32 blocks of its separable convolutions, if its arc has any).
    if space == "micro":
        assert batch_norms == {"float32"} and _compute_dtypes(model, keras.layers.SeparableConv2D) <= {"float32"}
    else:
        assert "bfloat16" in batch_norms
