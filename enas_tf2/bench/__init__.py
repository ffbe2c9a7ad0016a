"""Step-time benchmarks of the search and final networks, in machine-independent units.

    python -m enas_tf2.bench --space=macro|micro|ptb --preset=small|search|final
    python -m enas_tf2.bench.replicas --space=macro|micro --preset=small|search --replicas=2

Every network, trainer and controller is built through the project's task interface
(`enas_tf2.tasks`) from the resolved values of one original script (`configs.presets`), so the
bench times what a run of that script builds; a preset (`config`) names the script and only
changes the shape (for smoke runs) and how much is timed.

Every step time is also given in *units* (`timing`): the step's seconds divided by the median
seconds of a 2048x2048 float32 NumPy matmul measured in the same process, at the start and at
the end of the run (both are reported; their ratio shows how much the machine's load changed),
so that runs on different machines compare.

For the macro and micro spaces (`images`) the search presets measure the supernet's training step
with an architecture sampled by the controller *inside* the compiled step, over at least
`--num_arcs` different architectures, with its number of traces (target: exactly one); the
supernet against the same architectures built statically, steps interleaved pair by pair;
the controller phase per sample; peak resident memory. Targets at the search presets' size (#17):
supernet / static <= 1.05 (both ratios), first child step <= 30 s macro / <= 45 s micro, first
controller step <= 15 s, peak RSS <= 4 GiB micro / 3.6 GiB macro; micro also <= 35 units per
child step (the original took about 105 units and 19 GiB). The `final` presets time the final
network's training step (macro <= 130 units, micro <= 150; the TF1 originals about 162 and 196
on the 2-core machine where the targets were set).

The PTB space (`language_model`) measures `scripts/ptb_search.sh`'s supernet step in tokens/s
over enas_lm's random window lengths (one trace), the supernet against the fixed network of the
same cells on the same windows (<= 1.05x), the controller phase per sample and peak RSS (well
under the original's 14 GiB); `--preset=original_search` the original's 289 M-parameter
supernet (<= 1.3x its fixed network), `--preset=final` `scripts/ptb_final.sh`'s network on
enas_lm's README cell.

`report` adds the targets and prints the results as an aligned table, then as one line
`BENCH_JSON {...}` for scripts (`--json_out` also writes that JSON to a file); `runner` runs one
space's bench, `cli` is the program. `replicas` times one device against N mirrored replicas.
"""
