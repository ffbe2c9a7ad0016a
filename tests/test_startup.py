"""A quiet start: TensorFlow's CPU notices are filtered, everything else written at start-up still shows."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from enas_tf2 import startup

REPO = pathlib.Path(__file__).resolve().parents[1]

NOTICES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796364690.699920    3418 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796364690.700237    3418 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "I0000 00:00:1796364690.793263    3418 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
    "E0000 00:00:1796364693.035529    3418 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
]


def test_known_notices_are_dropped_and_other_lines_kept():
    kept = ["W0000 00:00:1.0 1 op_kernel.cc:1] something the user must see", "Traceback (most recent call last):",
            "To enable them, set a flag"]
    text = "\n".join(NOTICES[:3] + kept[:1] + NOTICES[3:] + kept[1:]) + "\n"
    assert all(startup.is_startup_notice(line) for line in NOTICES)
    assert startup.without_startup_notices(text) == "\n".join(kept) + "\n"


def _python(code: str, env_overrides: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ENAS_TF2_DEFAULT_TF_LOG_LEVEL")}
    env.update(PYTHONPATH=str(REPO), **env_overrides)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=True)


def test_the_filter_writes_back_what_it_caught_also_when_the_body_raises():
    code = (
        "import os, sys\n"
        "from enas_tf2 import startup\n"
        "try:\n"
        "    with startup.filtered_stderr():\n"
        f"        os.write(2, {(NOTICES[2] + chr(10)).encode()!r})\n"
        "        os.write(2, b'kept from C\\n')\n"
        "        print('kept from Python', file=sys.stderr)\n"
        "        raise KeyError('boom')\n"
        "except KeyError:\n"
        "    print('after', file=sys.stderr)\n"
    )
    assert _python(code, {}).stderr == "kept from C\nkept from Python\nafter\n"


def test_a_program_start_prints_no_tensorflow_notices_unless_the_user_set_a_log_level():
    code = ("from enas_tf2 import startup\nstartup.import_tensorflow_quietly()\nimport os, tensorflow as tf\n"
            "print(tf.config.list_physical_devices('CPU'))\nprint(os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    quiet = _python(code, {})
    assert "PhysicalDevice" in quiet.stdout and quiet.stdout.splitlines()[-1] == "1"
    assert not [line for line in quiet.stderr.splitlines() if startup.is_startup_notice(line)], quiet.stderr
    # A user's own level switches the filter off: TensorFlow's own output is what they asked for.
    chosen = _python(code, {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert chosen.stdout.splitlines()[-1] == "0"
    plain = _python("import tensorflow as tf\ntf.config.list_physical_devices()", {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert chosen.stderr.count("\n") >= plain.stderr.count("\n") - 1  # nothing filtered (timestamps differ)
