"""The programs' absl flags: `common` (every program), `image` (`cifar10_main`), `language_model` (`ptb_main`)."""
