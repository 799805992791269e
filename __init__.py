"""Layerloom: design neural networks by drag and drop, train them live, export them."""

__version__ = "0.1.0"


def _prepare_openmp() -> None:
    """OpenMP's wait policy, before anything loads torch (core/training/thread_policy.py says why)."""
    from layerloom.core.training.thread_policy import prepare_environment

    prepare_environment()


_prepare_openmp()
