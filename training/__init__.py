"""Offline training subpackage of tcfd_ros: data loaders in the real SUSTech1K/FreeGait layouts, the
paired cross-modal sampler and Patch Exchange, TCFDNet's losses, the trainer, the evaluator, the
ResNet-9 baseline and the ablation runner. Imports ``tcfd_ros.model``, never the ROS nodes."""
