"""The program as a user runs it (a subprocess each): SIGTERM saves and exits cleanly, the rerun ends as an
uninterrupted run; a second process is refused; a bad flag with --reset_output_dir deletes nothing; errors once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from fake_cifar import write_fake_cifar
from faults import assert_same_checkpoint
from runs import REPO, run_main

SEARCH = [
    "--search_for=macro", "--child_num_layers=3", "--child_out_filters=4", "--child_num_branches=6",
    "--batch_size=16", "--num_valid_images=40", "--controller_search_whole_channels", "--controller_train_every=1",
    "--controller_train_steps=3", "--controller_num_aggregate=2", "--log_every=1", "--derive_samples=4",
    "--seed=7", "--num_epochs=2", "--checkpoint_every_mins=0",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    write_fake_cifar(folder, images_per_file=24)
    return folder.parent


@pytest.mark.slow
def test_sigterm_saves_at_the_next_step_and_the_rerun_ends_as_the_uninterrupted_run(data_dir, tmp_path):
    reference, faulted = tmp_path / "reference", tmp_path / "faulted"
    run_main(SEARCH + [f"--data_path={data_dir}", f"--output_dir={reference}"])

    args = SEARCH + [f"--data_path={data_dir}", f"--output_dir={faulted}"]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    process = subprocess.Popen([sys.executable, "-m", "enas_tf2.cifar10_main", *args], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    log = faulted / "stdout"
    while not (log.exists() and "ch_step=2 " in log.read_text()):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline, "no child step after 240 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "Stopped by SIGTERM" in stderr and "Rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    assert not (faulted / ".lock").exists()

    run_main(args)
    assert "Resumed from" in log.read_text()
    assert_same_checkpoint(faulted, reference)
    assert (faulted / "final_arc.txt").read_text().splitlines()[0] == (reference / "final_arc.txt").read_text().splitlines()[0]


def test_a_second_process_on_the_folder_is_refused_by_name(data_dir, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        out = tmp_path / "run"
        out.mkdir()
        import socket  # pylint: disable=import-outside-toplevel

        (out / ".lock").write_text(f"{socket.gethostname()} {holder.pid}\n")
        result = run_main(SEARCH + [f"--data_path={data_dir}", f"--output_dir={out}"], check=False)
        assert result.returncode == 1
        assert f"in use by process {holder.pid} on this host" in result.stderr
        assert not (out / "checkpoints").exists()
    finally:
        holder.kill()


def test_a_bad_network_flag_with_reset_deletes_nothing_and_is_one_line(data_dir, tmp_path):
    previous = tmp_path / "run"
    (previous / "checkpoints").mkdir(parents=True)
    (previous / "checkpoints" / "ckpt-1.index").write_text("kept")
    args = [a for a in SEARCH if not a.startswith("--child_num_layers")]
    result = run_main(args + ["--child_num_layers=2", f"--data_path={data_dir}", f"--output_dir={previous}",
                              "--reset_output_dir"], check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "num_layers >= 3" in line]
    assert len(errors) == 1 and errors[0].startswith("error: "), result.stderr[-2000:]
    assert (previous / "checkpoints" / "ckpt-1.index").read_text() == "kept"


def test_an_output_dir_under_a_file_is_a_one_line_error(data_dir, tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_main(SEARCH + [f"--data_path={data_dir}", f"--output_dir={tmp_path / 'file' / 'run'}"], check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("which is a file") == 1
