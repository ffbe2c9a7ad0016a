"""enas_tf2: ENAS (Pham et al., ICML 2018) on TensorFlow 2 / Keras 3.

Efficient Neural Architecture Search via Parameter Sharing, arXiv 1802.03268.
The search spaces, encodings and hyperparameters follow the authors' TF1 code
(`melodyguan/enas`); see BUILD.md for the layout.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow enables its oneDNN CPU kernels by default only on CPUs with AVX-512
# VNNI/BF16 or AMX. On AVX2 machines (such as the 2-core CI machines) they make a
# child training step 1.3-1.5x faster, so enas_tf2 turns them on unless the user
# chose otherwise. This must happen before TensorFlow is imported; set
# TF_ENABLE_ONEDNN_OPTS=0 to turn them off.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
