"""enas_tf2: ENAS (Pham et al., ICML 2018) on TensorFlow 2 / Keras 3.

Efficient Neural Architecture Search via Parameter Sharing, arXiv 1802.03268.
The search spaces, encodings and hyperparameters follow the authors' TF1 code
(`melodyguan/enas`); see BUILD.md for the layout.
"""

__version__ = "0.1.0"
