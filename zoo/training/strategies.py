"""tf.distribute strategies, and which process of a run writes its files."""

import os

import tensorflow as tf

from zoo._compat import average_scalar_logs_across_workers


def distribution_strategy(name, logical_cpus=None):
    """The tf.distribute strategy `name`: "default" (one device), "mirrored" (every GPU of this
    machine, else every logical CPU device: `logical_cpus` splits the CPU into that many first), or
    "multiworker" (MultiWorkerMirroredStrategy over the machines of the TF_CONFIG environment variable)."""
    if logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker reads the cluster from the TF_CONFIG environment variable, "
                             "which is not set (see the README, \"Training on several GPUs or machines\")")
        average_scalar_logs_across_workers()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}: choose default, mirrored or multiworker")


def is_chief():
    """Whether this process writes the run's files (the other workers of a multi-worker run do not)."""
    return tf.distribute.get_strategy().extended.should_checkpoint


def checkpoint_folder_name():
    """`checkpoint`, or `checkpoint-worker-<i>` for worker i > 0 of a multi-worker run (each worker keeps,
    and resumes from, its own copy of the state)."""
    resolver = getattr(tf.distribute.get_strategy(), "cluster_resolver", None)
    return "checkpoint" if is_chief() or resolver is None else f"checkpoint-worker-{resolver.task_id}"
