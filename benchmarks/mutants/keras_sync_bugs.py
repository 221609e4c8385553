"""Bugs of Keras 3's synchronized batch statistics, which only the TensorFlow backend has:
keras.src.backend.tensorflow.nn._compute_moments_sync, the path ops.moments(synchronized=True) takes."""
import math

from benchmarks.mutants.kit import edited, hit, mutant

edited("sync_count_local", "keras.src.backend.tensorflow.nn._compute_moments_sync",
       ("count_sum = replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, local_count)", "count_sum = _hit(local_count)"))


@mutant("sync_unbiased_variance", "keras.src.backend.tensorflow.nn._compute_moments_sync")
def _(moments, x, axes, keepdims):
    mean, variance = moments(x, axes, keepdims)
    hit()
    n = math.prod(int(x.shape[a]) for a in axes)
    return mean, variance * (n / max(n - 1, 1))
